import Foundation

extension AvroSchema {
    /// An Avro schema that uses named types registered under other subjects (a registry's
    /// schema references): avro-c parses one self-contained schema, so each referenced type's
    /// definition is written in where the schema first names it (later uses stay names, which
    /// avro-c resolves as usual).
    /// - Parameter references: the referenced schemas' texts, ones they use themselves first.
    convenience init(json: String, references: [String]) throws(SchemaError) {
        guard !references.isEmpty else {
            try self.init(json: json)
            return
        }
        var named: [String: Any] = [:]
        for text in references {
            guard let tree = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else {
                throw SchemaError("a referenced schema is not JSON: \(text.prefix(80))")
            }
            if let name = AvroReferenceInliner.definedName(tree, namespace: "") { named[name] = tree }
        }
        guard let tree = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed]) else {
            throw SchemaError("the schema is not JSON")
        }
        var inliner = AvroReferenceInliner(named: named)
        let combined = inliner.inline(tree, namespace: "")
        guard let data = try? JSONSerialization.data(withJSONObject: combined, options: [.fragmentsAllowed]) else {
            throw SchemaError("the schema with its references could not be written")
        }
        try self.init(json: String(decoding: data, as: UTF8.self))
    }
}

/// Walks an Avro schema's JSON, replacing the first use of each referenced type's name by its
/// definition, and remembering the names defined so far (Avro names a type once, then uses it).
private struct AvroReferenceInliner {
    let named: [String: Any]
    var defined: Set<String> = []

    private static let primitives: Set<String> = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]

    /// The full name a named type's definition gives itself (record, enum, fixed), else nil.
    static func definedName(_ tree: Any, namespace: String) -> String? {
        guard let object = tree as? [String: Any], let type = object["type"] as? String,
              ["record", "error", "enum", "fixed"].contains(type), let name = object["name"] as? String else { return nil }
        if name.contains(".") { return name }
        let space = object["namespace"] as? String ?? namespace
        return space.isEmpty ? name : "\(space).\(name)"
    }

    mutating func inline(_ tree: Any, namespace: String) -> Any {
        switch tree {
        case let name as String:
            if Self.primitives.contains(name) { return name }
            let full = name.contains(".") || namespace.isEmpty ? name : "\(namespace).\(name)"
            for candidate in [full, name] where !defined.contains(candidate) {
                if let definition = named[candidate] { return inline(definition, namespace: "") }
            }
            return name
        case let union as [Any]:
            return union.map { inline($0, namespace: namespace) }
        case var object as [String: Any]:
            var space = namespace
            if let full = Self.definedName(object, namespace: namespace) {
                defined.insert(full)
                space = full.split(separator: ".").dropLast().joined(separator: ".")
            }
            if let fields = object["fields"] as? [[String: Any]] {
                object["fields"] = fields.map { field in
                    var field = field
                    if let type = field["type"] { field["type"] = inline(type, namespace: space) }
                    return field
                }
            }
            for key in ["items", "values"] {
                if let inner = object[key] { object[key] = inline(inner, namespace: space) }
            }
            if let inner = object["type"], !(inner is String && ["record", "error", "enum", "fixed", "array", "map"].contains(inner as! String)) {
                object["type"] = inline(inner, namespace: space)
            }
            return object
        default:
            return tree
        }
    }
}
