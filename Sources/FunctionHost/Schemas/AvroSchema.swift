import CAvro
import Foundation

/// A schema or codec failure, phrased for the author of a function: it names the
/// field path and what was expected, so they can fix their output.
package struct SchemaError: Error, CustomStringConvertible {
    package let message: String

    package init(_ message: String) {
        self.message = message
    }

    package var description: String { message }
}

/// An immutable parsed Avro schema.
///
/// Sendable because nothing mutates the avro-c schema after parsing and avro-c's
/// reference counts are atomic, so codecs on different threads may share one.
package final class AvroSchema: @unchecked Sendable {
    package let json: String
    let raw: avro_schema_t
    /// avro-c parses but drops field defaults, so they are read from the schema
    /// JSON here, keyed by the avro-c record schema object they belong to (a
    /// pointer key sidesteps re-implementing Avro's namespace resolution).
    let defaults: [avro_schema_t: [String: Any]]

    package init(json: String) throws(SchemaError) {
        var text = json
        var parsed: avro_schema_t?
        let rc = text.withUTF8 { utf8 -> Int32 in
            guard let base = utf8.baseAddress else { return EINVAL }
            return base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
                avro_schema_from_json_length($0, utf8.count, &parsed)
            }
        }
        guard rc == 0, let parsed else {
            throw SchemaError("invalid Avro schema: \(lastAvroError(or: "empty schema text"))")
        }
        self.json = json
        self.raw = parsed
        var defaults: [avro_schema_t: [String: Any]] = [:]
        if let tree = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed]) {
            Self.collectDefaults(tree, parsed, into: &defaults)
        }
        self.defaults = defaults
    }

    deinit {
        avro_schema_decref(raw)
    }

    /// Walks the schema JSON alongside avro-c's parsed tree; both list fields and
    /// branches in the same order, so indexes line up.
    private static func collectDefaults(_ json: Any, _ schema: avro_schema_t, into defaults: inout [avro_schema_t: [String: Any]]) {
        if let object = json as? [String: Any], let inner = object["type"], inner is [String: Any] || inner is [Any] {
            collectDefaults(inner, schema, into: &defaults)
            return
        }
        switch cavro_schema_type(schema) {
        case AVRO_RECORD:
            guard let fields = (json as? [String: Any])?["fields"] as? [Any] else { return }
            for (index, field) in fields.enumerated() {
                guard let field = field as? [String: Any], let name = field["name"] as? String,
                      let fieldSchema = avro_schema_record_field_get_by_index(schema, Int32(index))
                else { continue }
                if let value = field["default"] {
                    defaults[schema, default: [:]][name] = value
                }
                if let type = field["type"] {
                    collectDefaults(type, fieldSchema, into: &defaults)
                }
            }
        case AVRO_UNION:
            guard let branches = json as? [Any] else { return }
            for (index, branch) in branches.enumerated() {
                if let branchSchema = avro_schema_union_branch(schema, Int32(index)) {
                    collectDefaults(branch, branchSchema, into: &defaults)
                }
            }
        case AVRO_ARRAY:
            if let items = (json as? [String: Any])?["items"] {
                collectDefaults(items, avro_schema_array_items(schema), into: &defaults)
            }
        case AVRO_MAP:
            if let values = (json as? [String: Any])?["values"] {
                collectDefaults(values, avro_schema_map_values(schema), into: &defaults)
            }
        default:
            return
        }
    }

    var displayName: String { Self.fullName(raw) }

    /// The name the Avro JSON encoding uses for a union branch: the full name of
    /// a named type (as Java Avro and fastavro write it), else the type name.
    static func fullName(_ schema: avro_schema_t) -> String {
        let schema = resolved(schema)
        let name = avro_schema_type_name(schema).map { String(cString: $0) } ?? "?"
        switch cavro_schema_type(schema) {
        case AVRO_RECORD, AVRO_ENUM, AVRO_FIXED:
            if let space = avro_schema_namespace(schema), space.pointee != 0 {
                return String(cString: space) + "." + name
            }
            return name
        default:
            return name
        }
    }

    static func resolved(_ schema: avro_schema_t) -> avro_schema_t {
        var schema = schema
        while cavro_schema_type(schema) == AVRO_LINK, let target = avro_schema_link_target(schema) {
            schema = target
        }
        return schema
    }
}

func lastAvroError(or fallback: String) -> String {
    guard let text = avro_strerror(), text.pointee != 0 else { return fallback }
    return String(cString: text)
}
