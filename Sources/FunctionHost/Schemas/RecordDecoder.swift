import CRdKafka
import Foundation

/// Turns a trigger's schema-framed keys and values into what its function gets: an Avro record
/// as JSON text (avro-c's JSON encoding of it, see docs/SCHEMAS.md), a Protobuf record as its
/// proto3 JSON (libprotobuf's), a JSON Schema record as its JSON. The consuming thread
/// ``check(_:)``s each message before anything is called (so one that
/// cannot be decoded is dead-lettered, or its partition waits for the registry); the invoking
/// thread then takes the decoded parts (``decoded(_:)``): from what the check kept when it is the
/// same decoder (ordering partition), else by decoding again (a lane's own decoder).
/// Not shared between threads: each keeps its own avro-c objects; the registry's cache is shared.
final class RecordDecoder {
    /// What becomes of a message, as far as its schema goes.
    enum Check {
        case decodable
        /// It can never be decoded: dead-letter it with this reason and error.
        case undecodable(DeadLetterReason, String)
        /// The registry could not be asked: the partition waits and asks again.
        case registryUnavailable(String)
    }

    private let registry: SchemaRegistryClient?
    private let inlineValueSchema: RegisteredSchema?
    private let inlineKeySchema: RegisteredSchema?
    private let codec = AvroCodec()
    /// Why the last ``check(_:)`` did not find its message decodable (nil: it did), so the
    /// caller can say why without asking the registry again.
    private(set) var lastFailure: String?
    /// What checks decoded, until the call takes it, by partition and offset: a message fetched
    /// again has the same bytes, so an entry can never be wrong, only unused (a message
    /// dead-lettered later, or a revoked partition's): the store is emptied when it grows past a
    /// fetch's worth, and what is not found is decoded again.
    private var checked: [Placement: Decoded] = [:]
    private static let checkedLimit = 4096

    /// A message's decoded value and key; nil: hand over the message's own.
    typealias Decoded = (value: [UInt8]?, key: [UInt8]?)

    private struct Placement: Hashable {
        let partition: Int32
        let offset: Int64
    }

    /// A decoder for `settings`, or nil when the trigger reads no schema.
    static func make(for settings: SchemaSettings?, dataType: DataType) -> RecordDecoder? {
        // dataType binary: the function gets the bytes as they are on the topic, prefix and all.
        guard let settings, dataType == .string else { return nil }
        return RecordDecoder(settings)
    }

    private init(_ settings: SchemaSettings) {
        registry = settings.registry.map(SchemaRegistryClient.shared)
        // Checked at load (SchemaSettings.parse): these parse.
        inlineValueSchema = settings.valueAvroSchema.flatMap { try? AvroSchema(json: $0) }.map(RegisteredSchema.avro)
            ?? settings.valueProtobufSchema.flatMap { try? ProtobufSchema(text: $0) }.map(RegisteredSchema.protobuf)
        inlineKeySchema = settings.keyAvroSchema.flatMap { try? AvroSchema(json: $0) }.map(RegisteredSchema.avro)
    }

    func check(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Check {
        switch decodeParts(message) {
        case .success(let parts):
            lastFailure = nil
            if checked.count >= Self.checkedLimit { checked.removeAll(keepingCapacity: true) }
            checked[Placement(partition: message.pointee.partition, offset: message.pointee.offset)] = parts
            return .decodable
        case .failure(let failure):
            lastFailure = failure.message
            switch failure {
            case .unavailable(let text): return .registryUnavailable(text)
            case .notFound(let text): return .undecodable(.schemaNotFound, text)
            case .unusable(let text): return .undecodable(.deserializationError, text)
            }
        }
    }

    /// What the last ``check(_:)`` of `message` decoded, left for the call (a filter reads it).
    func checkedParts(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Decoded? {
        checked[Placement(partition: message.pointee.partition, offset: message.pointee.offset)]
    }

    /// The value and key the function gets for `message`. One that does not decode keeps the
    /// message's own bytes: it was checked before it was handed over, with the same schemas.
    func decoded(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Decoded {
        if let parts = checked.removeValue(forKey: Placement(partition: message.pointee.partition, offset: message.pointee.offset)) {
            return parts
        }
        return (try? decodeParts(message).get()) ?? (nil, nil)
    }

    private func decodeParts(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Result<Decoded, SchemaLookupFailure> {
        decode(message, .value).flatMap { value in decode(message, .key).map { key in (value, key) } }
    }

    private enum Part: String {
        case value, key
    }

    /// Decodes one part; success(nil) when it is handed over as it is (null, or a key no schema covers).
    private func decode(_ message: UnsafeMutablePointer<rd_kafka_message_t>, _ part: Part) -> Result<[UInt8]?, SchemaLookupFailure> {
        let raw = message.pointee
        let pointer = part == .value ? raw.payload : raw.key
        let length = part == .value ? raw.len : raw.key_len
        guard let pointer else { return .success(nil) }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
        let inline = part == .value ? inlineValueSchema : inlineKeySchema
        // A key is decoded only when a schema says how: its own inline one, or a framed key
        // with a registry (plain-text keys are common beside Avro values).
        if part == .key && inline == nil && (registry == nil || ConfluentFraming.unframe(bytes) == nil) { return .success(nil) }
        if part == .value && inline == nil && registry == nil { return .success(nil) }
        guard let (schemaID, body) = ConfluentFraming.unframe(bytes) else {
            return .failure(.unusable("the \(part.rawValue) is not in the Confluent wire format (byte 0, then a 4-byte schema id): it was not written by a schema-registry serializer. Use dataType binary to receive it untouched"))
        }
        let schema: RegisteredSchema
        if let inline {
            schema = inline
        } else {
            do {
                schema = try registry!.schema(id: schemaID)
            } catch {
                return .failure(error)
            }
        }
        switch schema {
        case .avro(let avro):
            do {
                return .success(try codec.decode(body, schema: avro))
            } catch {
                return .failure(.unusable("the \(part.rawValue) does not decode with Avro schema id \(schemaID): \(error.message)"))
            }
        case .json:
            guard (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])) != nil else {
                return .failure(.unusable("the \(part.rawValue) (JSON Schema id \(schemaID)) is not valid JSON"))
            }
            return .success(Array(body))
        case .protobuf(let proto):
            guard let (indexes, message) = ConfluentFraming.unframeMessageIndexes(body) else {
                return .failure(.unusable("the \(part.rawValue) (Protobuf schema id \(schemaID)) has no valid message-index array after the schema id"))
            }
            do {
                return .success(try proto.json(indexes: indexes, body: message))
            } catch {
                return .failure(.unusable("the \(part.rawValue) does not decode with Protobuf schema id \(schemaID): \(error.message)"))
            }
        }
    }
}
