import Foundation

/// Encodes what a function sends through an output binding with a schema: the value is JSON
/// text, written as Confluent-framed Avro or Protobuf (proto3 JSON in, the message indexes
/// after the id), or, for a registry subject whose schema is JSON Schema, framed as it is. The
/// schema is resolved at the first send and kept:
/// - `avroSchema` (or `protobufSchema`) and `schemaRegistryUrl`: registered under the subject
///   `TOPIC-value` (the registry answers with the existing id when it has it), framed with that id;
/// - `schemaRegistryUrl` alone: the subject's latest schema and its id;
/// - `avroSchema` (`protobufSchema`) alone: framed with schema id 0 (nothing to ask; a reader
///   with the same inline schema ignores the id, as Azure's does).
/// Protobuf: the message `protobufMessage` names, else the schema's first.
/// Not shared between threads (one per output handle, as each invoking thread has its own).
package final class RecordEncoder {
    private let settings: SchemaSettings
    private let subject: String
    private let registry: SchemaRegistryClient?
    private let codec = AvroCodec()
    private var resolved: (id: Int32, schema: RegisteredSchema)?

    init(settings: SchemaSettings, topic: String) {
        self.settings = settings
        subject = "\(topic)-value"
        registry = settings.registry.map(SchemaRegistryClient.shared)
    }

    /// An encoder for `swiftfunc produce --avro-schema`: `avroSchema` registered at `registry`
    /// when one is given.
    package convenience init(avroSchema: String, registry: URL?, topic: String) {
        var settings = SchemaSettings()
        settings.valueAvroSchema = avroSchema
        settings.registry = registry.map { SchemaRegistryLocation(url: $0) }
        self.init(settings: settings, topic: topic)
    }

    /// An encoder for `swiftfunc produce --protobuf-schema [--message]`: the `.proto` text
    /// registered at `registry` when one is given.
    package convenience init(protobufSchema: String, message: String?, registry: URL?, topic: String) {
        var settings = SchemaSettings()
        settings.valueProtobufSchema = protobufSchema
        settings.protobufMessage = message
        settings.registry = registry.map { SchemaRegistryLocation(url: $0) }
        self.init(settings: settings, topic: topic)
    }

    /// The framed record for `json`, or why it cannot be sent (the send is refused, and the
    /// invocation fails with that reason: retried, then dead-lettered, like any failure).
    package func encode(_ json: UnsafeRawBufferPointer) -> Result<[UInt8], SchemaError> {
        let id: Int32
        let schema: RegisteredSchema
        do {
            (id, schema) = try resolve()
        } catch {
            return .failure(SchemaError("the output's schema could not be had: \(error.message)"))
        }
        switch schema {
        case .avro(let avro):
            do {
                return .success(ConfluentFraming.frame(try codec.encode(json: json, schema: avro), schemaID: id))
            } catch {
                return .failure(SchemaError("the record does not fit the output's Avro schema: \(error.message)"))
            }
        case .json:
            guard (try? JSONSerialization.jsonObject(with: Data(json), options: [.fragmentsAllowed])) != nil else {
                return .failure(SchemaError("the record is not JSON, and subject '\(subject)' has a JSON Schema"))
            }
            return .success(ConfluentFraming.frame(Array(json), schemaID: id))
        case .protobuf(let proto):
            do {
                // Both fail with a sentence naming the message, and the field that does not fit.
                let indexes = try proto.indexes(of: settings.protobufMessage)
                let message = try proto.encode(json: json, message: settings.protobufMessage)
                return .success(ConfluentFraming.frame(ConfluentFraming.messageIndexes(indexes) + message, schemaID: id))
            } catch {
                return .failure(error)
            }
        }
    }

    private func resolve() throws(SchemaLookupFailure) -> (id: Int32, schema: RegisteredSchema) {
        if let resolved { return resolved }
        let found: (id: Int32, schema: RegisteredSchema)
        if let text = settings.valueAvroSchema {
            let avro: AvroSchema
            do {
                avro = try AvroSchema(json: text)
            } catch {
                throw .unusable(error.message)
            }
            found = (try registry?.register(schema: text, subject: subject) ?? 0, .avro(avro))
        } else if let text = settings.valueProtobufSchema {
            let proto: ProtobufSchema
            do {
                proto = try ProtobufSchema(text: text)
            } catch {
                throw .unusable(error.message)
            }
            found = (try registry?.register(schema: text, type: "PROTOBUF", subject: subject) ?? 0, .protobuf(proto))
        } else if let registry {
            found = try registry.latest(subject: subject)
        } else {
            throw .unusable("the binding names no schema")
        }
        resolved = found
        return found
    }
}
