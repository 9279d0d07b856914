import CAvro
import Foundation

/// Encoding's JSON side: parsed JSON filled into an avro-c value, walking the schema (see
/// ``AvroCodec/encode(json:schema:)``).
extension AvroCodec {
    static func fill(_ value: inout avro_value_t, with json: Any, schema: AvroSchema) throws(PathError) {
        let type = cavro_value_get_type(&value)
        let valueSchema = AvroSchema.resolved(cavro_value_get_schema(&value))
        switch type {
        case AVRO_NULL:
            guard json is NSNull else { throw mismatch("null", json) }
            cavro_value_set_null(&value)
        case AVRO_BOOLEAN:
            guard let number = json as? NSNumber, isBool(number) else { throw mismatch("a boolean", json) }
            cavro_value_set_boolean(&value, number.boolValue ? 1 : 0)
        case AVRO_INT32:
            guard let number = integer(json) else { throw mismatch("an int", json) }
            guard let small = Int32(exactly: number) else { throw PathError("expected an int, got \(number), which is out of range") }
            cavro_value_set_int(&value, small)
        case AVRO_INT64:
            guard let number = integer(json) else {
                if let number = json as? NSNumber, !isBool(number), number.doubleValue.rounded() == number.doubleValue {
                    throw PathError("expected a long, got \(number), which is out of range")
                }
                throw mismatch("a long", json)
            }
            cavro_value_set_long(&value, number)
        case AVRO_FLOAT:
            guard let number = json as? NSNumber, !isBool(number) else { throw mismatch("a float", json) }
            let narrow = Float(number.doubleValue)
            guard narrow.isFinite else { throw PathError("expected a float, got \(number), which is out of range") }
            cavro_value_set_float(&value, narrow)
        case AVRO_DOUBLE:
            guard let number = json as? NSNumber, !isBool(number) else { throw mismatch("a double", json) }
            cavro_value_set_double(&value, number.doubleValue)
        case AVRO_STRING:
            guard let text = json as? String else { throw mismatch("a string", json) }
            // withCString keeps any embedded NUL and adds the terminator avro-c counts.
            let count = text.utf8.count
            text.withCString { _ = cavro_value_set_string_len(&value, $0, count + 1) }
        case AVRO_BYTES:
            var bytes = try codePoints(json, expected: "bytes")
            bytes.withUnsafeMutableBytes { _ = cavro_value_set_bytes(&value, $0.baseAddress, $0.count) }
        case AVRO_FIXED:
            let size = Int(avro_schema_fixed_size(valueSchema))
            let expected = "the fixed '\(AvroSchema.fullName(valueSchema))' of \(size) bytes"
            var bytes = try codePoints(json, expected: expected)
            guard bytes.count == size else { throw PathError("expected \(expected), got \(bytes.count) bytes") }
            bytes.withUnsafeMutableBytes { _ = cavro_value_set_fixed(&value, $0.baseAddress, $0.count) }
        case AVRO_ENUM:
            let symbol = json as? String
            let index = symbol.map { avro_schema_enum_get_by_name(valueSchema, $0) } ?? -1
            guard index >= 0 else {
                let symbols = (0..<avro_schema_enum_number_of_symbols(valueSchema)).compactMap {
                    avro_schema_enum_get(valueSchema, $0).map { String(cString: $0) }
                }
                throw mismatch("a symbol of the enum '\(AvroSchema.fullName(valueSchema))' (\(symbols.joined(separator: ", ")))", json)
            }
            cavro_value_set_enum(&value, index)
        case AVRO_ARRAY:
            guard let elements = json as? [Any] else { throw mismatch("an array", json) }
            for (index, element) in elements.enumerated() {
                var child = avro_value_t()
                cavro_value_append(&value, &child, nil)
                do { try fill(&child, with: element, schema: schema) } catch { throw error.inside("[\(index)]") }
            }
        case AVRO_MAP:
            guard let entries = json as? [String: Any] else { throw mismatch("a map (a JSON object)", json) }
            // Sorted so that equal input always gives equal bytes.
            for key in entries.keys.sorted() {
                var child = avro_value_t()
                cavro_value_add(&value, key, &child, nil, nil)
                do { try fill(&child, with: entries[key]!, schema: schema) } catch { throw error.inside("[\"\(key)\"]") }
            }
        case AVRO_RECORD:
            try fillRecord(&value, with: json, recordSchema: valueSchema, schema: schema)
        case AVRO_UNION:
            try fillUnion(&value, with: json, unionSchema: valueSchema, schema: schema)
        default:
            throw PathError("the schema has a type this codec does not know")
        }
    }

    static func fillRecord(_ value: inout avro_value_t, with json: Any, recordSchema: avro_schema_t, schema: AvroSchema) throws(PathError) {
        let name = AvroSchema.fullName(recordSchema)
        guard let fields = json as? [String: Any] else { throw mismatch("the record '\(name)' (a JSON object)", json) }
        for key in fields.keys.sorted() where avro_schema_record_field_get_index(recordSchema, key) < 0 {
            throw PathError("the record '\(name)' has no such field").inside(".\(key)")
        }
        let defaults = schema.defaults[recordSchema]
        for index in 0..<avro_schema_record_size(recordSchema) {
            var child = avro_value_t()
            var fieldName: UnsafePointer<CChar>?
            cavro_value_get_by_index(&value, index, &child, &fieldName)
            let field = fieldName.map { String(cString: $0) } ?? "#\(index)"
            do throws(PathError) {
                if let given = fields[field] {
                    try fill(&child, with: given, schema: schema)
                } else if let fallback = defaults?[field] {
                    try fillDefault(&child, with: fallback, schema: schema)
                } else if let nullBranch = nullBranch(of: child) {
                    var branch = avro_value_t()
                    cavro_value_set_branch(&child, nullBranch, &branch)
                } else {
                    throw PathError("missing, and the schema gives it no default")
                }
            } catch {
                throw error.inside(".\(field)")
            }
        }
    }

    /// Avro says a union's default belongs to its first branch; schemas that break
    /// that rule are common, so anything else falls back to the usual matching.
    static func fillDefault(_ value: inout avro_value_t, with json: Any, schema: AvroSchema) throws(PathError) {
        if cavro_value_get_type(&value) == AVRO_UNION {
            var branch = avro_value_t()
            if cavro_value_set_branch(&value, 0, &branch) == 0,
               (try? fill(&branch, with: json, schema: schema)) != nil {
                return
            }
            cavro_value_reset(&value)
        }
        do {
            try fill(&value, with: json, schema: schema)
        } catch {
            throw PathError("the schema's default does not fit: \(error.reason)")
        }
    }

    static func nullBranch(of value: avro_value_t) -> Int32? {
        var value = value
        guard cavro_value_get_type(&value) == AVRO_UNION else { return nil }
        let unionSchema = AvroSchema.resolved(cavro_value_get_schema(&value))
        for index in 0..<Int32(avro_schema_union_size(unionSchema)) {
            if let branch = avro_schema_union_branch(unionSchema, index), cavro_schema_type(branch) == AVRO_NULL {
                return index
            }
        }
        return nil
    }

    static func fillUnion(_ value: inout avro_value_t, with json: Any, unionSchema: avro_schema_t, schema: AvroSchema) throws(PathError) {
        let branches = (0..<Int32(avro_schema_union_size(unionSchema))).compactMap { index in
            avro_schema_union_branch(unionSchema, index).map { (index: index, schema: AvroSchema.resolved($0)) }
        }
        let names = branches.map { AvroSchema.fullName($0.schema) }

        if let tagged = json as? [String: Any], tagged.count == 1, let (key, inner) = tagged.first,
           let position = branches.indices.first(where: {
               names[$0] == key || avro_schema_type_name(branches[$0].schema).map { String(cString: $0) } == key
           }) {
            var branch = avro_value_t()
            cavro_value_set_branch(&value, branches[position].index, &branch)
            try fill(&branch, with: inner, schema: schema)
            return
        }

        let fitting = branches.indices.filter { accepts(branches[$0].schema, json) }
        let numericRank: [avro_type_t: Int] = [AVRO_INT32: 0, AVRO_INT64: 1, AVRO_DOUBLE: 2, AVRO_FLOAT: 3]
        let chosen: Int
        if fitting.count == 1 {
            chosen = fitting[0]
        } else if !fitting.isEmpty, fitting.allSatisfy({ numericRank[cavro_schema_type(branches[$0].schema)] != nil }) {
            chosen = fitting.min { numericRank[cavro_schema_type(branches[$0].schema)]! < numericRank[cavro_schema_type(branches[$1].schema)]! }!
        } else if fitting.isEmpty {
            throw mismatch("one of \(names.joined(separator: ", ")) (or, in the Avro JSON encoding, {\"\(names.first { $0 != "null" } ?? names[0])\": ...})", json)
        } else {
            let ambiguous = fitting.map { names[$0] }
            throw PathError("\(describe(json)) fits more than one branch of the union (\(ambiguous.joined(separator: ", "))): write it as {\"\(ambiguous[0])\": ...}")
        }
        var branch = avro_value_t()
        cavro_value_set_branch(&value, branches[chosen].index, &branch)
        try fill(&branch, with: json, schema: schema)
    }

    /// Whether a plain (untagged) JSON value could be meant for this union branch.
    static func accepts(_ schema: avro_schema_t, _ json: Any) -> Bool {
        switch cavro_schema_type(schema) {
        case AVRO_NULL: return json is NSNull
        case AVRO_BOOLEAN: return (json as? NSNumber).map(isBool) ?? false
        case AVRO_INT32: return integer(json).flatMap { Int32(exactly: $0) } != nil
        case AVRO_INT64: return integer(json) != nil
        case AVRO_FLOAT, AVRO_DOUBLE: return (json as? NSNumber).map { !isBool($0) } ?? false
        case AVRO_STRING: return json is String
        case AVRO_BYTES: return (try? codePoints(json, expected: "")) != nil
        case AVRO_FIXED: return (try? codePoints(json, expected: ""))?.count == Int(avro_schema_fixed_size(schema))
        case AVRO_ENUM: return (json as? String).map { avro_schema_enum_get_by_name(schema, $0) >= 0 } ?? false
        case AVRO_ARRAY: return json is [Any]
        case AVRO_MAP: return json is [String: Any]
        case AVRO_RECORD:
            guard let fields = json as? [String: Any] else { return false }
            return fields.keys.allSatisfy { avro_schema_record_field_get_index(schema, $0) >= 0 }
        default: return false
        }
    }

    static func codePoints(_ json: Any, expected: String) throws(PathError) -> [UInt8] {
        guard let text = json as? String else { throw mismatch(expected, json) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for (offset, scalar) in text.unicodeScalars.enumerated() {
            guard scalar.value <= 0xFF else {
                throw PathError("expected \(expected) as a string of code points U+0000-U+00FF, got U+\(String(scalar.value, radix: 16, uppercase: true)) at character \(offset)")
            }
            bytes.append(UInt8(scalar.value))
        }
        return bytes
    }

    /// JSONSerialization gives booleans as NSNumbers of ObjC type "c".
    static func isBool(_ number: NSNumber) -> Bool {
        number.objCType.pointee == CChar(UInt8(ascii: "c"))
    }

    /// The JSON number as an Int64 when it is integral and in range, whatever
    /// representation JSONSerialization chose for it.
    static func integer(_ json: Any) -> Int64? {
        guard let number = json as? NSNumber, !isBool(number) else { return nil }
        if number is NSDecimalNumber {
            return Int64(number.description)
        }
        switch UInt8(bitPattern: number.objCType.pointee) {
        case UInt8(ascii: "Q"), UInt8(ascii: "L"), UInt8(ascii: "I"), UInt8(ascii: "S"), UInt8(ascii: "C"):
            return Int64(exactly: number.uint64Value)
        case UInt8(ascii: "d"), UInt8(ascii: "f"):
            return Int64(exactly: number.doubleValue)
        default:
            return number.int64Value
        }
    }

    static func mismatch(_ expected: String, _ json: Any) -> PathError {
        PathError("expected \(expected), got \(describe(json))")
    }

    static func describe(_ json: Any) -> String {
        switch json {
        case is NSNull:
            return "null"
        case let text as String:
            let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
            return "the string \"\(shown)\""
        case let number as NSNumber:
            return isBool(number) ? (number.boolValue ? "true" : "false") : "the number \(number)"
        case is [Any]:
            return "an array"
        case is [String: Any]:
            return "an object"
        default:
            return "\(type(of: json))"
        }
    }
}


/// A failure deep inside a value; the path is collected while unwinding, so the
/// success path never builds one.
struct PathError: Error {
    var reversedPath: [String] = []
    let reason: String

    init(_ reason: String) {
        self.reason = reason
    }

    func inside(_ component: String) -> PathError {
        var copy = self
        copy.reversedPath.append(component)
        return copy
    }

    func message(subject: String) -> String {
        guard !reversedPath.isEmpty else { return "\(subject): \(reason)" }
        var path = reversedPath.reversed().joined()
        if path.hasPrefix(".") { path.removeFirst() }
        return "field '\(path)': \(reason)"
    }
}
