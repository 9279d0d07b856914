import Foundation

/// A JSON object read from a configuration file, with keys matched case-insensitively (Azure's
/// samples write `maxBatchSize` and `MaxBatchSize` alike) and every type mismatch reported with
/// the file and the field's path.
struct JSONObject {
    let file: String
    let path: String
    private let values: [String: Any]

    /// Entries with their keys as written (for maps whose keys are not ours, like librdkafka's).
    let originalEntries: [(key: String, value: Any)]

    init(_ dictionary: [String: Any], file: String, path: String = "") {
        var values: [String: Any] = [:]
        for (key, value) in dictionary { values[key.lowercased()] = value }
        self.values = values
        self.originalEntries = dictionary.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
        self.file = file
        self.path = path
    }

    /// Reads and parses `url` as a JSON object.
    /// - Throws: ``ConfigurationError`` for an unreadable file, malformed JSON or a non-object.
    static func load(_ url: URL, displayName: String) throws -> JSONObject {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ConfigurationError(file: displayName, "cannot be read: \(error.localizedDescription)")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            let detail = (error as NSError).userInfo["NSDebugDescription"] as? String ?? "\(error)"
            throw ConfigurationError(file: displayName, "is not valid JSON: \(detail)")
        }
        guard let dictionary = parsed as? [String: Any] else {
            throw ConfigurationError(file: displayName, "must hold a JSON object ({ ... })")
        }
        return JSONObject(dictionary, file: displayName)
    }

    func fieldPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func error(_ key: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: file, field: fieldPath(key), message)
    }

    var keys: [String] { Array(values.keys) }

    func has(_ key: String) -> Bool { values[key.lowercased()] != nil && !(values[key.lowercased()] is NSNull) }

    func raw(_ key: String) -> Any? {
        let value = values[key.lowercased()]
        return value is NSNull ? nil : value
    }

    func string(_ key: String) throws -> String? {
        guard let value = raw(key) else { return nil }
        if let string = value as? String { return string }
        throw error(key, "must be a string, not \(describe(value))")
    }

    func int(_ key: String) throws -> Int? {
        guard let value = raw(key) else { return nil }
        if !isBoolean(value), let number = value as? NSNumber, number.doubleValue == number.doubleValue.rounded() {
            return number.intValue
        }
        if let string = value as? String, let number = Int(string.trimmingCharacters(in: .whitespaces)) { return number }
        throw error(key, "must be a whole number, not \(describe(value))")
    }

    /// A whole number that must lie in `range`.
    /// - Throws: ``ConfigurationError`` naming the field and the range, for a value outside it
    ///   (numbers too large for `Int` included) or one that is not a whole number.
    func int(_ key: String, in range: ClosedRange<Int>, unit: String = "") throws -> Int? {
        guard let value = raw(key) else { return nil }
        let suffix = unit.isEmpty ? "" : " \(unit)"
        let allowed = "must be from \(range.lowerBound) to \(range.upperBound)\(suffix)"
        // Outside Int's range NSNumber.intValue wraps; judge such numbers by their double value.
        if !isBoolean(value), let number = value as? NSNumber, abs(number.doubleValue) >= 9.0e18 {
            throw error(key, "\(allowed), not \(number.stringValue)")
        }
        if let string = value as? String, Int(string.trimmingCharacters(in: .whitespaces)) == nil,
           let double = Double(string.trimmingCharacters(in: .whitespaces)), double == double.rounded() {
            throw error(key, "\(allowed), not \(string)")
        }
        guard let number = try int(key) else { return nil }
        guard range.contains(number) else { throw error(key, "\(allowed), not \(number)") }
        return number
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = raw(key) else { return nil }
        if isBoolean(value), let flag = value as? Bool { return flag }
        if let string = value as? String {
            switch string.lowercased() {
            case "true": return true
            case "false": return false
            default: break
            }
        }
        throw error(key, "must be true or false, not \(describe(value))")
    }

    func object(_ key: String) throws -> JSONObject? {
        guard let value = raw(key) else { return nil }
        guard let dictionary = value as? [String: Any] else {
            throw error(key, "must be an object ({ ... }), not \(describe(value))")
        }
        return JSONObject(dictionary, file: file, path: fieldPath(key))
    }

    func array(_ key: String) throws -> [Any]? {
        guard let value = raw(key) else { return nil }
        guard let array = value as? [Any] else { throw error(key, "must be an array ([ ... ]), not \(describe(value))") }
        return array
    }

    /// A flat object of scalar values (a map of librdkafka properties, say), as strings.
    func stringMap(_ key: String) throws -> [String: String] {
        guard let object = try object(key) else { return [:] }
        var result: [String: String] = [:]
        for (name, value) in object.originalEntries {
            if let string = value as? String {
                result[name] = string
            } else if isBoolean(value), let flag = value as? Bool {
                result[name] = flag ? "true" : "false"
            } else if let number = value as? NSNumber {
                result[name] = number.stringValue
            } else {
                throw object.error(name, "must be a string, number or boolean, not \(describe(value))")
            }
        }
        return result
    }
}

/// JSONSerialization hands booleans over as NSNumber, which also converts to Int; the boxed
/// type is the only way to tell `true` from `1`.
private let booleanNumberType = ObjectIdentifier(type(of: NSNumber(value: true)))

private func isBoolean(_ value: Any) -> Bool {
    guard let number = value as? NSNumber else { return value is Bool }
    return ObjectIdentifier(type(of: number)) == booleanNumberType
}

private func describe(_ value: Any) -> String {
    switch value {
    case is String: return "a string"
    case is [Any]: return "an array"
    case is [String: Any]: return "an object"
    default: return isBoolean(value) ? "a boolean" : "a number"
    }
}
