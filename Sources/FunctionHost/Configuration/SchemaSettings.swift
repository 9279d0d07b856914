import Foundation

/// A binding's schema fields (Azure's names): where records' schemas come from, for a trigger
/// that hands the function decoded records or an output that encodes what the function sends.
/// Values and keys are in the Confluent wire format (byte 0, a 4-byte big-endian schema id, the
/// encoded record); see ``ConfluentFraming``.
public struct SchemaSettings: Hashable, Sendable {
    /// `schemaRegistryUrl`: a Confluent-compatible schema registry; the framed id is looked up there.
    public var registry: SchemaRegistryLocation?
    /// `avroSchema`: the values' Avro schema, inline; the framed id is then not looked up.
    public var valueAvroSchema: String?
    /// `keyAvroSchema`: the keys' Avro schema, inline (trigger only).
    public var keyAvroSchema: String?
    /// `protobufSchema`: the values' `.proto` text, inline (imports: the well-known types only);
    /// the framed id is then not looked up, the message indexes pick the message.
    public var valueProtobufSchema: String?
    /// `protobufMessage` (output only): the message type to encode as, by full name; default the
    /// first message of the schema (inline, or the subject's latest).
    public var protobufMessage: String?

    public init() {}

    /// The fields this type reads.
    static let fieldNames = ["schemaRegistryUrl", "schemaRegistryUsername", "schemaRegistryPassword", "avroSchema", "keyAvroSchema", "protobufSchema", "protobufMessage"]

    /// Reads the schema fields of a binding; nil when it has none.
    /// - Parameter keys: whether `keyAvroSchema` means anything here (a trigger: yes).
    static func parse(_ binding: JSONObject, settings: AppSettings, keys: Bool) throws -> SchemaSettings? {
        func setting(_ key: String) throws -> String? {
            guard let value = try binding.string(key), !value.isEmpty else { return nil }
            return try settings.resolveSettingOrLiteral(value, file: binding.file, field: binding.fieldPath(key))
        }
        var schemas = SchemaSettings()
        if let text = try setting("schemaRegistryUrl") {
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil else {
                throw binding.error("schemaRegistryUrl", "'\(text)' is not an http(s) URL; write the registry's address, e.g. \"https://psrc-123.westeurope.azure.confluent.cloud\" (or the name of an app setting holding it)")
            }
            let username = try setting("schemaRegistryUsername")
            let password = try setting("schemaRegistryPassword")
            if (username == nil) != (password == nil) {
                throw binding.error(username == nil ? "schemaRegistryUsername" : "schemaRegistryPassword",
                                    "is needed too: the registry takes a user name and a password together (app settings holding them, e.g. \"SchemaRegistryUser\" and \"SchemaRegistryPassword\")")
            }
            schemas.registry = SchemaRegistryLocation(url: url, username: username, password: password)
        } else {
            for field in ["schemaRegistryUsername", "schemaRegistryPassword"] where try binding.string(field) != nil {
                throw binding.error(field, "means nothing without schemaRegistryUrl: add the registry's address, or remove it")
            }
        }
        for (field, isKey) in [("avroSchema", false), ("keyAvroSchema", true)] {
            guard let text = try setting(field) else { continue }
            if isKey && !keys {
                throw binding.error(field, "is read by a kafkaTrigger only: an output binding sends keys as the function gives them")
            }
            do {
                _ = try AvroSchema(json: text)
            } catch {
                throw binding.error(field, "is not an Avro schema: \(error.message)")
            }
            if isKey { schemas.keyAvroSchema = text } else { schemas.valueAvroSchema = text }
        }
        if let text = try setting("protobufSchema") {
            if schemas.valueAvroSchema != nil {
                throw binding.error("protobufSchema", "and avroSchema both describe the values: keep the one the topic is written in")
            }
            let schema: ProtobufSchema
            do {
                schema = try ProtobufSchema(text: text)
            } catch {
                throw binding.error("protobufSchema", "is not a .proto schema: \(error.message)")
            }
            schemas.valueProtobufSchema = text
            if let message = try setting("protobufMessage") {
                do {
                    _ = try schema.indexes(of: message)
                } catch {
                    throw binding.error("protobufMessage", "\(error.message)")
                }
            }
        }
        if let message = try setting("protobufMessage") {
            if keys {
                throw binding.error("protobufMessage", "is read by an output binding only: a trigger's records name their message themselves (the message indexes after the schema id)")
            }
            if schemas.valueProtobufSchema == nil && schemas.registry == nil {
                throw binding.error("protobufMessage", "means nothing without protobufSchema or schemaRegistryUrl")
            }
            schemas.protobufMessage = message
        }
        return schemas == SchemaSettings() ? nil : schemas
    }
}

/// A schema registry and the credentials to ask it with (HTTP basic authentication).
public struct SchemaRegistryLocation: Hashable, Sendable {
    public var url: URL
    public var username: String?
    public var password: String?

    public init(url: URL, username: String? = nil, password: String? = nil) {
        self.url = url
        self.username = username
        self.password = password
    }
}
