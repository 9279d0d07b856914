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
/// On a trigger that reads a schema (Avro, JSON Schema), `value` and `key` patterns match the
/// decoded record, the JSON the function gets.
public struct MessageFilter: Sendable {
    fileprivate let patterns: [Pattern]
    /// Some pattern reads the record's value or key (not only its headers): on a schema trigger
    /// the record is decoded before it is matched.
    let readsKeyOrValue: Bool

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

    fileprivate init(patterns: [Pattern], summary: String) {
        self.patterns = patterns
        self.summary = summary
        readsKeyOrValue = patterns.contains { $0.key != nil || $0.value != nil }
    }

    /// Whether librdkafka's message is invoked.
    func matches(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Bool {
        matches(message, key: message.pointee.keyBytes, value: message.pointee.valueBytes)
    }

    /// Whether a schema trigger's message is invoked, its value and key matched as `decoder`'s
    /// check decoded them (the JSON the function gets); the message was found decodable just before.
    func matches(_ message: UnsafeMutablePointer<rd_kafka_message_t>, decodedBy decoder: RecordDecoder) -> Bool {
        let decoded = decoder.checkedParts(message) ?? (nil, nil)
        return Self.withBytes(decoded.value, else: message.pointee.valueBytes) { value in
            Self.withBytes(decoded.key, else: message.pointee.keyBytes) { key in matches(message, key: key, value: value) }
        }
    }

    private static func withBytes<R>(_ bytes: [UInt8]?, else own: UnsafeRawBufferPointer?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard let bytes else { return body(own) }
        return bytes.withUnsafeBytes { body($0) }
    }

    /// `key` and `value` as given, headers from the message.
    private func matches(_ message: UnsafeMutablePointer<rd_kafka_message_t>, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?) -> Bool {
        matches(key: key, value: value) { name in
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

struct Pattern: Sendable {
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
            if !rules.matches(found.map { FilterSubject.text($0) }) { return false }
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
enum Part: Sendable {
    case text(RuleList)
    case fields([(path: [[UInt8]], rules: RuleList)])

    func matches(_ bytes: UnsafeRawBufferPointer?) -> Bool {
        switch self {
        case .text(let rules):
            return rules.matches(bytes.map { FilterSubject.text($0) })
        case .fields(let conditions):
            guard let bytes, let root = JSONToken.root(bytes), root.kind == .object else { return false }
            for condition in conditions {
                if !condition.rules.matches(root.find(condition.path).map { FilterSubject.json($0) }) { return false }
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
