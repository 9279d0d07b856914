/// One JSON value inside a record's bytes, found by scanning them in place: no document is
/// built and nothing is allocated. For ``MessageFilter``, which only needs to find a few
/// fields and compare them; malformed JSON simply finds nothing.
struct JSONToken {
    enum Kind: Equatable { case object, array, string, number, `true`, `false`, null }

    /// The value's bytes exactly (a string with its quotes).
    let bytes: UnsafeRawBufferPointer
    let kind: Kind

    /// The value that makes up all of `bytes` (whitespace aside); nil when they are not JSON.
    static func root(_ bytes: UnsafeRawBufferPointer) -> JSONToken? {
        var index = skipSpace(bytes, 0)
        guard let token = scanValue(bytes, &index) else { return nil }
        return skipSpace(bytes, index) == bytes.count ? token : nil
    }

    /// The value at `path` (member names, one per level of nested objects), nil when absent.
    func find(_ path: [[UInt8]]) -> JSONToken? {
        var current = self
        for name in path {
            guard current.kind == .object, let member = current.member(name) else { return nil }
            current = member
        }
        return current
    }

    /// Calls `body` with each element of an array.
    func forEachElement(_ body: (JSONToken) -> Void) {
        guard kind == .array else { return }
        var index = JSONToken.skipSpace(bytes, 1)
        if index < bytes.count && bytes[index] == UInt8(ascii: "]") { return }
        while index < bytes.count {
            guard let element = JSONToken.scanValue(bytes, &index) else { return }
            body(element)
            index = JSONToken.skipSpace(bytes, index)
            guard index < bytes.count, bytes[index] == UInt8(ascii: ",") else { return }
            index = JSONToken.skipSpace(bytes, index + 1)
        }
    }

    /// The member of an object named `name` (the first one; escapes in member names compared decoded).
    private func member(_ name: [UInt8]) -> JSONToken? {
        var index = JSONToken.skipSpace(bytes, 1)
        while index < bytes.count && bytes[index] == UInt8(ascii: "\"") {
            guard let key = JSONToken.scanValue(bytes, &index), key.kind == .string else { return nil }
            index = JSONToken.skipSpace(bytes, index)
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index = JSONToken.skipSpace(bytes, index + 1)
            guard let value = JSONToken.scanValue(bytes, &index) else { return nil }
            if key.stringEquals(name) { return value }
            index = JSONToken.skipSpace(bytes, index)
            guard index < bytes.count, bytes[index] == UInt8(ascii: ",") else { return nil }
            index = JSONToken.skipSpace(bytes, index + 1)
        }
        return nil
    }

    private func stringEquals(_ name: [UInt8]) -> Bool {
        var equal = false
        _ = FilterSubject.json(self).withText { text in
            equal = text.count == name.count && zip(text, name).allSatisfy { $0 == $1 }
        }
        return equal
    }

    // MARK: - Scanning

    private static func skipSpace(_ bytes: UnsafeRawBufferPointer, _ start: Int) -> Int {
        var index = start
        while index < bytes.count, bytes[index] == 32 || bytes[index] == 9 || bytes[index] == 10 || bytes[index] == 13 { index += 1 }
        return index
    }

    /// Scans the value starting at `index` (no leading space); leaves `index` just past it.
    private static func scanValue(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) -> JSONToken? {
        guard index < bytes.count else { return nil }
        let start = index
        let kind: Kind
        switch bytes[index] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            kind = bytes[index] == UInt8(ascii: "{") ? .object : .array
            // Nesting is tracked by depth alone; strings are skipped so their brackets do not count.
            var depth = 0
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 {
                        index += 1
                        return JSONToken(bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), kind: kind)
                    }
                case UInt8(ascii: "\""):
                    guard skipString(bytes, &index) else { return nil }
                    continue
                default: break
                }
                index += 1
            }
            return nil
        case UInt8(ascii: "\""):
            guard skipString(bytes, &index) else { return nil }
            return JSONToken(bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), kind: .string)
        case UInt8(ascii: "t"): kind = .true
        case UInt8(ascii: "f"): kind = .false
        case UInt8(ascii: "n"): kind = .null
        case UInt8(ascii: "-"), 48...57: kind = .number
        default: return nil
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || byte == 32 || byte == 9 || byte == 10 || byte == 13 { break }
            index += 1
        }
        let token = JSONToken(bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), kind: kind)
        switch kind {
        case .true: return token.bytes.elementsEqual("true".utf8) ? token : nil
        case .false: return token.bytes.elementsEqual("false".utf8) ? token : nil
        case .null: return token.bytes.elementsEqual("null".utf8) ? token : nil
        default: return token
        }
    }

    /// Moves `index` from a string's opening quote to just past its closing one.
    private static func skipString(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) -> Bool {
        index += 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""):
                index += 1
                return true
            default: index += 1
            }
        }
        return false
    }
}
