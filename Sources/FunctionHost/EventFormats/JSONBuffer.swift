import FunctionABI

/// A growable byte buffer that JSON is written into, reused from document to document: after
/// it has grown to the largest document, writing allocates nothing.
final class JSONBuffer {
    private(set) var bytes: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 4096) {
        self.capacity = capacity
        bytes = .allocate(capacity: capacity)
    }

    deinit { bytes.deallocate() }

    func reset() { count = 0 }

    @inline(__always)
    private func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        let grown = max(capacity * 2, count + extra)
        let larger = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        larger.update(from: bytes, count: count)
        bytes.deallocate()
        bytes = larger
        capacity = grown
    }

    @inline(__always)
    func byte(_ value: UInt8) {
        reserve(1)
        bytes[count] = value
        count += 1
    }

    /// Appends ASCII/UTF-8 text as it is (keys, punctuation, numbers).
    func raw(_ text: StaticString) {
        reserve(text.utf8CodeUnitCount)
        (bytes + count).update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        count += text.utf8CodeUnitCount
    }

    func raw(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        reserve(buffer.count)
        UnsafeMutableRawPointer(bytes + count).copyMemory(from: base, byteCount: buffer.count)
        count += buffer.count
    }

    func integer<T: BinaryInteger>(_ value: T) {
        if value < 0 { byte(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var length = 0
        withUnsafeMutableBytes(of: &digits) { digits in
            repeat {
                digits[length] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                length += 1
            } while magnitude > 0
            reserve(length)
            for index in stride(from: length - 1, through: 0, by: -1) {
                bytes[count] = digits[index]
                count += 1
            }
        }
    }

    /// A JSON string of `text`'s bytes, escaped. Bytes that are not UTF-8 become U+FFFD, so the
    /// document is always valid JSON.
    func string(_ text: UnsafeRawBufferPointer) {
        byte(UInt8(ascii: "\""))
        if let base = text.baseAddress, text.count > 0 {
            let start = base.assumingMemoryBound(to: UInt8.self)
            if isValidUTF8(start, count: text.count) {
                escaped(UnsafeBufferPointer(start: start, count: text.count))
            } else {
                var repaired = String(decoding: text, as: UTF8.self)
                repaired.withUTF8 { escaped($0) }
            }
        }
        byte(UInt8(ascii: "\""))
    }

    func string(_ text: StaticString) {
        byte(UInt8(ascii: "\""))
        escaped(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        byte(UInt8(ascii: "\""))
    }

    func string(_ text: String) {
        var text = text
        byte(UInt8(ascii: "\""))
        text.withUTF8 { escaped($0) }
        byte(UInt8(ascii: "\""))
    }

    private func escaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        reserve(utf8.count)
        for character in utf8 {
            switch character {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0x08: raw("\\b")
            case 0x0C: raw("\\f")
            case 0..<0x20:
                raw("\\u00")
                byte(hexDigits[Int(character >> 4)])
                byte(hexDigits[Int(character & 0xF)])
            default:
                byte(character)
            }
        }
    }

    /// A JSON string of `data` in standard base64 (with padding), as .NET and AWS write bytes.
    func base64(_ data: UnsafeRawBufferPointer) {
        byte(UInt8(ascii: "\""))
        reserve((data.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= data.count {
            let chunk = UInt32(data[index]) << 16 | UInt32(data[index + 1]) << 8 | UInt32(data[index + 2])
            bytes[count] = base64Alphabet[Int(chunk >> 18 & 63)]
            bytes[count + 1] = base64Alphabet[Int(chunk >> 12 & 63)]
            bytes[count + 2] = base64Alphabet[Int(chunk >> 6 & 63)]
            bytes[count + 3] = base64Alphabet[Int(chunk & 63)]
            count += 4
            index += 3
        }
        let left = data.count - index
        if left > 0 {
            let chunk = UInt32(data[index]) << 16 | (left == 2 ? UInt32(data[index + 1]) << 8 : 0)
            byte(base64Alphabet[Int(chunk >> 18 & 63)])
            byte(base64Alphabet[Int(chunk >> 12 & 63)])
            byte(left == 2 ? base64Alphabet[Int(chunk >> 6 & 63)] : UInt8(ascii: "="))
            byte(UInt8(ascii: "="))
        }
        byte(UInt8(ascii: "\""))
    }

    /// `[104,101,...]`: bytes as a JSON array of numbers (AWS's header values).
    func byteArray(_ data: UnsafeRawBufferPointer) {
        byte(UInt8(ascii: "["))
        for (index, value) in data.enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            integer(value)
        }
        byte(UInt8(ascii: "]"))
    }

    /// A JSON string of a UTC time as .NET's JSON writer formats a `DateTime`:
    /// `2022-04-09T03:20:06.591Z`, the fraction without trailing zeros (none at all for whole seconds).
    func iso8601(milliseconds: Int64) {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let millis = Int(milliseconds - seconds * 1000)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        byte(UInt8(ascii: "\""))
        padded(year, 4); byte(UInt8(ascii: "-")); padded(month, 2); byte(UInt8(ascii: "-")); padded(day, 2)
        byte(UInt8(ascii: "T"))
        padded(secondOfDay / 3600, 2); byte(UInt8(ascii: ":")); padded(secondOfDay / 60 % 60, 2); byte(UInt8(ascii: ":"))
        padded(secondOfDay % 60, 2)
        if millis > 0 {
            byte(UInt8(ascii: "."))
            var fraction = millis, width = 3
            while fraction % 10 == 0 { fraction /= 10; width -= 1 }
            padded(fraction, width)
        }
        raw("Z\"")
    }

    private func padded(_ value: Int, _ width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            byte(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }

    var text: String { String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self) }
}

private let hexDigits = Array("0123456789abcdef".utf8)
private let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's days-to-civil algorithm).
private func civilDate(daysSinceEpoch: Int64) -> (Int, Int, Int) {
    let z = daysSinceEpoch + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    return (Int(year), Int(month), Int(day))
}
