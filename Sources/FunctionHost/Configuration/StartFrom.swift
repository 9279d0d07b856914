import Foundation

/// The kafkaTrigger's `startFrom`: where a partition the function's consumer group has no
/// committed offset for starts (AWS's `StartingPosition` with `AT_TIMESTAMP`, Tencent's "given
/// time"). A committed offset always wins. Without it, host.json's `autoOffsetReset` applies.
public enum StartFrom: Sendable, Equatable, CustomStringConvertible {
    /// The partition's first record still kept.
    case earliest
    /// Only records produced after the partition was assigned.
    case latest
    /// The first record whose Kafka timestamp is at or after this time (milliseconds since the epoch).
    case timestamp(milliseconds: Int64)

    public var description: String {
        switch self {
        case .earliest: return "earliest"
        case .latest: return "latest"
        case .timestamp(let milliseconds): return formatTimestamp(milliseconds)
        }
    }

    /// What a malformed value's error shows.
    static let acceptedForms = #"use "earliest", "latest" or an ISO-8601 time with its offset from UTC, such as "2026-11-29T10:00:00Z", "2026-11-29T11:00:00+01:00" or "2026-11-29T10:00:00.250Z""#

    static func parse(_ text: String, in binding: JSONObject) throws -> StartFrom {
        switch normalizedEnumValue(text) {
        case "earliest": return .earliest
        case "latest": return .latest
        default:
            guard let milliseconds = parseISO8601Timestamp(text) else {
                throw binding.error("startFrom", "'\(text)' is not a starting position; \(acceptedForms)")
            }
            return .timestamp(milliseconds: milliseconds)
        }
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` into milliseconds since the epoch
/// (a fraction finer than a millisecond is cut off). The offset is required: a time without one
/// would mean whatever zone the host happens to run in. Nil when the text is not such a time or
/// names a date that does not exist.
func parseISO8601Timestamp(_ text: String) -> Int64? {
    let bytes = Array(text.trimmingCharacters(in: .whitespaces).utf8)
    var index = 0
    func number(_ digits: Int) -> Int? {
        guard index + digits <= bytes.count else { return nil }
        var value = 0
        for byte in bytes[index..<index + digits] {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        index += digits
        return value
    }
    func expect(_ characters: String) -> Bool {
        guard index < bytes.count, characters.utf8.contains(bytes[index]) else { return false }
        index += 1
        return true
    }
    guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2), expect("Tt"),
          let hour = number(2), expect(":"), let minute = number(2), expect(":"), let second = number(2) else { return nil }
    var milliseconds = 0
    if index < bytes.count && (bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: ",")) {
        index += 1
        var digits = 0
        while index < bytes.count, bytes[index] >= 0x30 && bytes[index] <= 0x39 {
            if digits < 3 { milliseconds = milliseconds * 10 + Int(bytes[index] - 0x30) }
            digits += 1
            index += 1
        }
        guard digits > 0 else { return nil }
        for _ in digits..<max(digits, 3) { milliseconds *= 10 }
    }
    var offsetSeconds = 0
    if expect("Zz") {
        // UTC
    } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
        let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
        index += 1
        guard let hours = number(2), expect(":"), let minutes = number(2), hours <= 23, minutes <= 59 else { return nil }
        offsetSeconds = sign * (hours * 3_600 + minutes * 60)
    } else {
        return nil
    }
    guard index == bytes.count, (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
          hour <= 23, minute <= 59, second <= 59 else { return nil }
    let days = daysSinceEpoch(year: year, month: month, day: day)
    let seconds = Int64(days) * 86_400 + Int64(hour * 3_600 + minute * 60 + second) - Int64(offsetSeconds)
    return seconds * 1_000 + Int64(milliseconds)
}

private func isLeapYear(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

private func daysInMonth(year: Int, month: Int) -> Int {
    switch month {
    case 2: return isLeapYear(year) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's days_from_civil).
private func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}

/// `milliseconds` since the epoch as ISO-8601 UTC with milliseconds, for logs.
func formatTimestamp(_ milliseconds: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1_000))
}
