import CRdKafka
import Foundation

/// The kafkaTrigger's `filters`: which messages the function is called for, in the pattern
/// language of AWS Lambda's event filtering (`FilterCriteria`). A message is invoked when it
/// matches at least one pattern; the others are settled without a call (their offsets are
/// committed past them) and counted.
///
/// ```json
/// "filters": [
///   { "pattern": { "value": { "device": { "type": ["sensor"] }, "reading": [{ "numeric": [">", 0, "<=", 100] }] } } },
///   { "pattern": { "key": [{ "prefix": "vip-" }], "headers": { "source": [{ "anything-but": ["test"] }] } } }
/// ]
/// ```
///
/// A pattern's top-level fields are `value`, `key` and `headers`; every field given must match.
/// Under `value` (or `key`) an object matches fields of the record's JSON object (nested
/// objects are nested paths; a JSON array matches when any element does); a list of rules
/// matches the whole value as text. Under `headers`, each header name takes a list of rules,
/// matched against that header's value as text. A list of rules matches when any rule does:
/// a string (equal), a number (numerically equal), `true`/`false`/`null` (JSON values),
/// `{"prefix": s}`, `{"suffix": s}`, `{"equals-ignore-case": s}`,
/// `{"numeric": [op, n]}` or `{"numeric": [op, n, op, n]}` with `=`, `<`, `<=`, `>`, `>=`,
/// `{"exists": true|false}` and `{"anything-but": value | [values] | {"prefix": s}}`.
/// (AWS filters Kafka records on `value` only; `key` and `headers` are swiftfunc's.)
///
/// Matching reads the record's bytes in place: no JSON document is built and nothing is
/// allocated, except when a JSON string holding escapes is compared (decoded on the stack).
public struct MessageFilter: Sendable {
    fileprivate var patterns: [Pattern]

    /// `filters` as written, for the banner and the log.
    public let summary: String

    /// Whether the record is invoked: it matches at least one pattern.
    /// - Parameters:
    ///   - header: the value of the header named by the C string (the last one of that name),
    ///     an empty buffer for a header without a value, nil when there is none.
    public func matches(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
                        header: (UnsafePointer<CChar>) -> UnsafeRawBufferPointer?) -> Bool {
        for pattern in patterns where pattern.matches(key: key, value: value, header: header) { return true }
        return false
    }

    /// Whether librdkafka's message is invoked.
    func matches(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Bool {
        let key = message.pointee.key.map { UnsafeRawBufferPointer(start: $0, count: message.pointee.key_len) }
        let value = message.pointee.payload.map { UnsafeRawBufferPointer(start: $0, count: message.pointee.len) }
        return matches(key: key, value: value) { name in
            var headers: OpaquePointer?
            guard rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return nil }
            var bytes: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_last(headers, name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
            return UnsafeRawBufferPointer(start: bytes ?? UnsafeRawPointer(bitPattern: 1), count: bytes == nil ? 0 : size)
        }
    }

    // MARK: - Parsing (at load)

    /// Reads `filters` of a kafkaTrigger binding: a list of `{ "pattern": ... }` (the pattern as
    /// an object, or as a string holding one, as AWS writes it), or AWS's whole
    /// `{ "Filters": [ { "Pattern": "..." } ] }`.
    /// - Throws: ``ConfigurationError`` naming the field of the first malformed part.
    static func parse(_ binding: JSONObject) throws -> MessageFilter? {
        guard let raw = binding.raw("filters") else { return nil }
        var path = binding.fieldPath("filters")
        var list: [Any]
        if let array = raw as? [Any] {
            list = array
        } else if let object = raw as? [String: Any], let inner = JSONObject(object, file: binding.file, path: path).raw("filters") as? [Any] {
            list = inner
            path += ".Filters"
        } else {
            throw binding.error("filters", "must be a list of { \"pattern\": { ... } } (or AWS's { \"Filters\": [ { \"Pattern\": \"...\" } ] })")
        }
        guard !list.isEmpty else { throw ConfigurationError(file: binding.file, field: path, "is empty, so no message would ever be invoked; remove it to invoke every message") }
        var patterns: [Pattern] = []
        for (index, element) in list.enumerated() {
            let elementPath = "\(path)[\(index)]"
            guard let dictionary = element as? [String: Any] else {
                throw ConfigurationError(file: binding.file, field: elementPath, "must be an object: { \"pattern\": { ... } }")
            }
            let filter = JSONObject(dictionary, file: binding.file, path: elementPath)
            guard let patternValue = filter.raw("pattern") else {
                throw filter.error("pattern", "is required: { \"value\": { \"field\": [ rules ] } }, or key / headers")
            }
            var patternObject = patternValue
            if let text = patternValue as? String {
                do {
                    patternObject = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
                } catch {
                    throw filter.error("pattern", "is not valid JSON: \((error as NSError).userInfo["NSDebugDescription"] as? String ?? "\(error)")")
                }
            }
            patterns.append(try Pattern.parse(patternObject, file: binding.file, path: filter.fieldPath("pattern")))
        }
        let summary = (try? String(data: JSONSerialization.data(withJSONObject: raw, options: [.sortedKeys, .fragmentsAllowed]), encoding: .utf8)) ?? nil
        return MessageFilter(patterns: patterns, summary: summary ?? "\(list.count) filters")
    }
}

// MARK: - Patterns

private struct Pattern: Sendable {
    var key: Part?
    var value: Part?
    /// Header name (NUL-terminated, for librdkafka) and its rules.
    var headers: [(name: [CChar], rules: RuleList)] = []

    func matches(key keyBytes: UnsafeRawBufferPointer?, value valueBytes: UnsafeRawBufferPointer?,
                 header: (UnsafePointer<CChar>) -> UnsafeRawBufferPointer?) -> Bool {
        if let value, !value.matches(valueBytes) { return false }
        if let key, !key.matches(keyBytes) { return false }
        for (name, rules) in headers {
            let found = name.withUnsafeBufferPointer { header($0.baseAddress!) }
            if !rules.matches(found.map { Subject.text($0) }) { return false }
        }
        return true
    }

    static func parse(_ object: Any, file: String, path: String) throws -> Pattern {
        guard let dictionary = object as? [String: Any], !dictionary.isEmpty else {
            throw ConfigurationError(file: file, field: path, "must be an object with value, key or headers, e.g. { \"value\": { \"type\": [\"order\"] } }")
        }
        var pattern = Pattern()
        for (name, part) in dictionary.sorted(by: { $0.key < $1.key }) {
            let partPath = "\(path).\(name)"
            switch name.lowercased() {
            case "value": pattern.value = try Part.parse(part, file: file, path: partPath)
            case "key": pattern.key = try Part.parse(part, file: file, path: partPath)
            case "headers":
                guard let headers = part as? [String: Any], !headers.isEmpty else {
                    throw ConfigurationError(file: file, field: partPath, "must be an object of header names and rule lists, e.g. { \"source\": [\"web\"] }")
                }
                for (header, rules) in headers.sorted(by: { $0.key < $1.key }) {
                    pattern.headers.append((Array(header.utf8CString), try RuleList.parse(rules, file: file, path: "\(partPath).\(header)")))
                }
            default:
                var message = "unknown field; a pattern matches value, key or headers"
                if let nearest = KnownFields.nearest(to: name, among: ["value", "key", "headers"]) { message += " (did you mean '\(nearest)'?)" }
                throw ConfigurationError(file: file, field: partPath, message)
            }
        }
        return pattern
    }
}

/// What `value` or `key` must be: fields of a JSON object, or the whole bytes as text.
private enum Part: Sendable {
    case text(RuleList)
    case fields([(path: [[UInt8]], rules: RuleList)])

    func matches(_ bytes: UnsafeRawBufferPointer?) -> Bool {
        switch self {
        case .text(let rules):
            return rules.matches(bytes.map { Subject.text($0) })
        case .fields(let conditions):
            guard let bytes, let root = JSONToken.root(bytes), root.kind == .object else { return false }
            for condition in conditions {
                if !condition.rules.matches(root.find(condition.path).map { Subject.json($0) }) { return false }
            }
            return true
        }
    }

    static func parse(_ value: Any, file: String, path: String) throws -> Part {
        if value is [Any] { return .text(try RuleList.parse(value, file: file, path: path)) }
        guard let object = value as? [String: Any], !object.isEmpty else {
            throw ConfigurationError(file: file, field: path, "must be an object of fields ({ \"type\": [\"order\"] }) or a list of rules for the whole \(path.hasSuffix("key") ? "key" : "value") ([{ \"prefix\": \"x\" }])")
        }
        var conditions: [(path: [[UInt8]], rules: RuleList)] = []
        func collect(_ object: [String: Any], prefix: [[UInt8]], path: String) throws {
            for (name, child) in object.sorted(by: { $0.key < $1.key }) {
                let childPath = "\(path).\(name)"
                if let nested = child as? [String: Any] {
                    guard !nested.isEmpty else { throw ConfigurationError(file: file, field: childPath, "is an empty object; give it fields, or a list of rules") }
                    try collect(nested, prefix: prefix + [Array(name.utf8)], path: childPath)
                } else {
                    conditions.append((prefix + [Array(name.utf8)], try RuleList.parse(child, file: file, path: childPath)))
                }
            }
        }
        try collect(object, prefix: [], path: path)
        return .fields(conditions)
    }
}

// MARK: - Rules

/// What a rule looks at: bytes taken as text (the key, a header, a value matched whole), or a
/// value inside the record's JSON.
enum Subject {
    case text(UnsafeRawBufferPointer)
    case json(JSONToken)
}

private struct RuleList: Sendable {
    var rules: [Rule]

    /// `subject` nil: the field is absent.
    func matches(_ subject: Subject?) -> Bool {
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

    private func matchesOne(_ subject: Subject) -> Bool {
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

private enum Comparison: Sendable {
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

private enum Rule: Sendable {
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

    func matches(_ subject: Subject) -> Bool {
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

extension Subject {
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

private func equalBytes(_ bytes: UnsafeRawBufferPointer, _ expected: [UInt8]) -> Bool {
    guard bytes.count == expected.count else { return false }
    guard let start = bytes.baseAddress, !expected.isEmpty else { return true }
    return expected.withUnsafeBytes { memcmp(start, $0.baseAddress!, bytes.count) == 0 }
}

private func asciiLower(_ byte: UInt8) -> UInt8 {
    byte >= 65 && byte <= 90 ? byte + 32 : byte
}

/// A decimal number in `bytes` (surrounding spaces allowed), without allocating.
private func parseNumber(_ bytes: UnsafeRawBufferPointer) -> Double? {
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

private func isJSONBoolean(_ number: NSNumber) -> Bool {
    ObjectIdentifier(type(of: number)) == ObjectIdentifier(type(of: NSNumber(value: true)))
}

/// Decodes a JSON string's content (without its quotes) into `buffer`, which must be at least
/// as long; returns the length written. A malformed escape is copied as it is.
private func decodeJSONString(_ content: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer) -> Int {
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

private func hexValue(_ bytes: UnsafeRawBufferPointer, _ start: Int) -> UInt32? {
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
