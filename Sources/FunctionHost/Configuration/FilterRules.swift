import CRdKafka
import Foundation

/// The rules of a filter pattern (AWS FilterCriteria): what one field must be, and the byte-level
/// helpers that judge a record in place without building a JSON document.
enum FilterSubject {
    case text(UnsafeRawBufferPointer)
    case json(JSONToken)
}

struct RuleList: Sendable {
    var rules: [Rule]

    /// `subject` nil: the field is absent.
    func matches(_ subject: FilterSubject?) -> Bool {
        guard let subject else { return rules.contains { if case .exists(false) = $0 { true } else { false } } }
        if case .json(let token) = subject, token.kind == .array {
            // A JSON array matches when any of its elements does.
            var matched = false
            token.forEachElement { element in
                if !matched && matchesOne(.json(element)) { matched = true }
            }
            return matched || rules.contains { if case .exists(true) = $0 { true } else { false } }
        }
        return matchesOne(subject)
    }

    private func matchesOne(_ subject: FilterSubject) -> Bool {
        for rule in rules where rule.matches(subject) { return true }
        return false
    }

    static func parse(_ value: Any, file: String, path: String) throws -> RuleList {
        guard let list = value as? [Any] else {
            throw ConfigurationError(file: file, field: path, "must be a list of rules, e.g. [\"a\", \"b\"] or [{ \"prefix\": \"a\" }]; a single value is written [\"a\"]")
        }
        guard !list.isEmpty else { throw ConfigurationError(file: file, field: path, "is an empty list, which matches nothing; give at least one rule") }
        return RuleList(rules: try list.enumerated().map { try Rule.parse($0.element, file: file, path: "\(path)[\($0.offset)]") })
    }
}

enum Comparison: Sendable {
    case equal, less, lessOrEqual, greater, greaterOrEqual

    func holds(_ left: Double, _ right: Double) -> Bool {
        switch self {
        case .equal: left == right
        case .less: left < right
        case .lessOrEqual: left <= right
        case .greater: left > right
        case .greaterOrEqual: left >= right
        }
    }
}

enum Rule: Sendable {
    case string([UInt8])
    case number(Double)
    case boolean(Bool)
    case null
    case prefix([UInt8])
    case suffix([UInt8])
    case equalsIgnoreCase([UInt8])
    case numeric([(Comparison, Double)])
    case exists(Bool)
    case anythingBut(strings: [[UInt8]], numbers: [Double])
    case anythingButPrefix([UInt8])

    func matches(_ subject: FilterSubject) -> Bool {
        switch self {
        case .exists(let present): return present
        case .null:
            if case .json(let token) = subject { return token.kind == .null }
            return false
        case .boolean(let flag):
            if case .json(let token) = subject { return token.kind == (flag ? .true : .false) }
            return false
        case .number(let expected): return subject.number == expected
        case .numeric(let comparisons):
            guard let number = subject.number else { return false }
            return comparisons.allSatisfy { $0.0.holds(number, $0.1) }
        case .anythingBut(let strings, let numbers):
            if let number = subject.number, case .json = subject { return !numbers.contains(number) }
            var excluded = false
            let isText = subject.withText { text in
                excluded = strings.contains { equalBytes(text, $0) } || (subject.number.map(numbers.contains) ?? false)
            }
            return isText && !excluded
        case .string, .prefix, .suffix, .equalsIgnoreCase, .anythingButPrefix:
            var result = false
            _ = subject.withText { text in
                switch self {
                case .string(let expected): result = equalBytes(text, expected)
                case .prefix(let expected): result = text.count >= expected.count && equalBytes(UnsafeRawBufferPointer(rebasing: text[0..<expected.count]), expected)
                case .suffix(let expected): result = text.count >= expected.count && equalBytes(UnsafeRawBufferPointer(rebasing: text[(text.count - expected.count)...]), expected)
                case .equalsIgnoreCase(let expected): result = text.count == expected.count && zip(text, expected).allSatisfy { asciiLower($0) == asciiLower($1) }
                case .anythingButPrefix(let expected): result = !(text.count >= expected.count && equalBytes(UnsafeRawBufferPointer(rebasing: text[0..<expected.count]), expected))
                default: break
                }
            }
            return result
        }
    }

    static func parse(_ value: Any, file: String, path: String) throws -> Rule {
        func fail(_ message: String) -> ConfigurationError { ConfigurationError(file: file, field: path, message) }
        if value is NSNull { return .null }
        if let text = value as? String { return .string(Array(text.utf8)) }
        if let number = value as? NSNumber {
            if isJSONBoolean(number) { return .boolean(number.boolValue) }
            return .number(number.doubleValue)
        }
        guard let object = value as? [String: Any], object.count == 1, let (name, argument) = object.first else {
            throw fail("must be a value (\"a\", 1, true, null) or one operator: { \"prefix\": \"a\" }, suffix, equals-ignore-case, numeric, exists, anything-but")
        }
        func text() throws -> [UInt8] {
            guard let string = argument as? String else { throw fail("\(name) takes a string, e.g. { \"\(name)\": \"abc\" }") }
            return Array(string.utf8)
        }
        switch name {
        case "prefix": return .prefix(try text())
        case "suffix": return .suffix(try text())
        case "equals-ignore-case": return .equalsIgnoreCase(try text())
        case "exists":
            guard let number = argument as? NSNumber, isJSONBoolean(number) else { throw fail("exists takes true or false") }
            return .exists(number.boolValue)
        case "numeric":
            guard let list = argument as? [Any], list.count == 2 || list.count == 4 else {
                throw fail("numeric takes one or two comparisons: [\">\", 0] or [\">=\", 0, \"<\", 10]")
            }
            var comparisons: [(Comparison, Double)] = []
            for index in stride(from: 0, to: list.count, by: 2) {
                guard let op = list[index] as? String, let bound = list[index + 1] as? NSNumber, !isJSONBoolean(bound) else {
                    throw fail("numeric takes operator-number pairs: [\">\", 0] or [\">=\", 0, \"<\", 10]")
                }
                let comparison: Comparison
                switch op {
                case "=": comparison = .equal
                case "<": comparison = .less
                case "<=": comparison = .lessOrEqual
                case ">": comparison = .greater
                case ">=": comparison = .greaterOrEqual
                default: throw fail("unknown numeric operator '\(op)'; use =, <, <=, > or >=")
                }
                comparisons.append((comparison, bound.doubleValue))
            }
            return .numeric(comparisons)
        case "anything-but":
            if let inner = argument as? [String: Any] {
                guard inner.count == 1, let prefix = inner["prefix"] as? String else { throw fail("anything-but takes a value, a list of values, or { \"prefix\": \"a\" }") }
                return .anythingButPrefix(Array(prefix.utf8))
            }
            var strings: [[UInt8]] = []
            var numbers: [Double] = []
            for item in (argument as? [Any]) ?? [argument] {
                if let string = item as? String {
                    strings.append(Array(string.utf8))
                } else if let number = item as? NSNumber, !isJSONBoolean(number) {
                    numbers.append(number.doubleValue)
                } else {
                    throw fail("anything-but takes strings or numbers, or { \"prefix\": \"a\" }")
                }
            }
            guard !strings.isEmpty || !numbers.isEmpty else { throw fail("anything-but needs at least one value") }
            return .anythingBut(strings: strings, numbers: numbers)
        default:
            var message = "unknown operator '\(name)'; use prefix, suffix, equals-ignore-case, numeric, exists or anything-but"
            if let nearest = KnownFields.nearest(to: name, among: ["prefix", "suffix", "equals-ignore-case", "numeric", "exists", "anything-but"]) {
                message += " (did you mean '\(nearest)'?)"
            }
            throw fail(message)
        }
    }
}

extension FilterSubject {
    /// The number the subject holds: a JSON number, or text that reads as one.
    var number: Double? {
        switch self {
        case .text(let bytes): return parseNumber(bytes)
        case .json(let token): return token.kind == .number ? parseNumber(token.bytes) : nil
        }
    }

    /// Calls `body` with the subject's text: the bytes themselves, or a JSON string's content
    /// (decoded on the stack when it holds escapes). False, without calling, for other JSON values.
    func withText(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        switch self {
        case .text(let bytes):
            body(bytes)
            return true
        case .json(let token):
            guard token.kind == .string else { return false }
            let content = UnsafeRawBufferPointer(rebasing: token.bytes[1..<(token.bytes.count - 1)])
            guard content.contains(UInt8(ascii: "\\")) else {
                body(content)
                return true
            }
            withUnsafeTemporaryAllocation(byteCount: content.count, alignment: 1) { buffer in
                body(UnsafeRawBufferPointer(rebasing: buffer[0..<decodeJSONString(content, into: buffer)]))
            }
            return true
        }
    }
}

func equalBytes(_ bytes: UnsafeRawBufferPointer, _ expected: [UInt8]) -> Bool {
    guard bytes.count == expected.count else { return false }
    guard let start = bytes.baseAddress, !expected.isEmpty else { return true }
    return expected.withUnsafeBytes { memcmp(start, $0.baseAddress!, bytes.count) == 0 }
}

func asciiLower(_ byte: UInt8) -> UInt8 {
    byte >= 65 && byte <= 90 ? byte + 32 : byte
}

/// A decimal number in `bytes` (surrounding spaces allowed), without allocating.
func parseNumber(_ bytes: UnsafeRawBufferPointer) -> Double? {
    guard !bytes.isEmpty, bytes.count < 64 else { return nil }
    return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer -> Double? in
        var count = 0
        for byte in bytes {
            // Only what a number can hold: strtod would also read "inf", "nan" and hex.
            guard (byte >= 48 && byte <= 57) || byte == 43 || byte == 45 || byte == 46 || byte == 101 || byte == 69 || byte == 32 else { return nil }
            buffer[count] = CChar(bitPattern: byte)
            count += 1
        }
        buffer[count] = 0
        var end: UnsafeMutablePointer<CChar>?
        let value = strtod(buffer.baseAddress!, &end)
        guard let end, end != buffer.baseAddress else { return nil }
        var rest = end
        while rest.pointee == 32 { rest += 1 }
        return rest.pointee == 0 ? value : nil
    }
}

func isJSONBoolean(_ number: NSNumber) -> Bool {
    ObjectIdentifier(type(of: number)) == ObjectIdentifier(type(of: NSNumber(value: true)))
}

/// Decodes a JSON string's content (without its quotes) into `buffer`, which must be at least
/// as long; returns the length written. A malformed escape is copied as it is.
func decodeJSONString(_ content: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer) -> Int {
    var read = 0
    var written = 0
    func put(_ byte: UInt8) { buffer[written] = byte; written += 1 }
    while read < content.count {
        let byte = content[read]
        guard byte == UInt8(ascii: "\\"), read + 1 < content.count else { put(byte); read += 1; continue }
        let escape = content[read + 1]
        read += 2
        switch escape {
        case UInt8(ascii: "n"): put(10)
        case UInt8(ascii: "t"): put(9)
        case UInt8(ascii: "r"): put(13)
        case UInt8(ascii: "b"): put(8)
        case UInt8(ascii: "f"): put(12)
        case UInt8(ascii: "u"):
            guard read + 4 <= content.count, var scalar = hexValue(content, read) else { put(92); put(escape); continue }
            read += 4
            // A surrogate pair (\uD83D\uDE00) is one scalar.
            if scalar >= 0xD800 && scalar < 0xDC00, read + 6 <= content.count, content[read] == 92, content[read + 1] == UInt8(ascii: "u"),
               let low = hexValue(content, read + 2), low >= 0xDC00 && low < 0xE000 {
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                read += 6
            }
            // UTF-8 is never longer than the 6 bytes of its escape.
            for unit in String(UnicodeScalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8 { put(unit) }
        default: put(escape)
        }
    }
    return written
}

func hexValue(_ bytes: UnsafeRawBufferPointer, _ start: Int) -> UInt32? {
    var value: UInt32 = 0
    for index in start..<(start + 4) {
        let byte = bytes[index]
        let digit: UInt8
        switch byte {
        case 48...57: digit = byte - 48
        case 65...70: digit = byte - 55
        case 97...102: digit = byte - 87
        default: return nil
        }
        value = value << 4 | UInt32(digit)
    }
    return value
}
