import CProtobuf
import Foundation

/// A parsed `.proto` schema (libprotobuf, through Sources/CProtobuf's C API) with the files it
/// imports: decodes a message to its proto3 JSON and encodes JSON as a message.
///
/// Sendable because nothing changes the parsed files after parsing, and libprotobuf's descriptor
/// pool and dynamic message factory are safe to use from several threads.
package final class ProtobufSchema: @unchecked Sendable {
    private let raw: OpaquePointer

    /// - Parameters:
    ///   - text: the `.proto` text (or a base64 serialized FileDescriptorProto, as Confluent's
    ///     Python serializer registers it).
    ///   - dependencies: the files it imports, by import name (a registry's references).
    package init(text: String, dependencies: [(name: String, text: String)] = [], name: String = "schema.proto") throws(SchemaError) {
        var error: UnsafeMutablePointer<CChar>?
        let names = dependencies.map { strdup($0.name) }
        let texts = dependencies.map { strdup($0.text) }
        defer { (names + texts).forEach { free($0) } }
        let parsed = names.map { UnsafePointer($0) }.withUnsafeBufferPointer { namePointers in
            texts.map { UnsafePointer($0) }.withUnsafeBufferPointer { textPointers in
                cpb_schema_parse(name, text, dependencies.count, namePointers.baseAddress, textPointers.baseAddress, &error)
            }
        }
        guard let parsed else { throw SchemaError(Self.take(error) ?? "the .proto schema does not parse") }
        raw = parsed
    }

    deinit { cpb_schema_free(raw) }

    /// The full name of the message a Confluent message-index path names, or nil.
    func messageName(indexes: [Int32]) -> String? {
        indexes.withUnsafeBufferPointer { Self.take(cpb_message_name(raw, $0.baseAddress, $0.count)) }
    }

    /// The message-index path of `message` (nil: the file's first message).
    package func indexes(of message: String?) throws(SchemaError) -> [Int32] {
        var indexes: UnsafeMutablePointer<Int32>?
        var count = 0
        var error: UnsafeMutablePointer<CChar>?
        guard cpb_message_indexes(raw, message, &indexes, &count, &error) == 0, let indexes else {
            throw SchemaError(Self.take(error) ?? "no such message")
        }
        defer { cpb_free(indexes) }
        return Array(UnsafeBufferPointer(start: indexes, count: count))
    }

    /// `body`, a message of the type `indexes` names, as proto3 JSON (UTF-8).
    func json(indexes: [Int32], body: UnsafeRawBufferPointer) throws(SchemaError) -> [UInt8] {
        var json: UnsafeMutablePointer<CChar>?
        var length = 0
        var error: UnsafeMutablePointer<CChar>?
        let rc = indexes.withUnsafeBufferPointer {
            cpb_decode_json(raw, $0.baseAddress, $0.count, body.baseAddress, body.count, &json, &length, &error)
        }
        guard rc == 0, let json else { throw SchemaError(Self.take(error) ?? "the message does not decode") }
        defer { cpb_free(json) }
        return Array(UnsafeRawBufferPointer(start: json, count: length))
    }

    /// `json` (proto3 JSON) encoded as the message `message` (nil: the file's first message).
    package func encode(json: UnsafeRawBufferPointer, message: String?) throws(SchemaError) -> [UInt8] {
        var bytes: UnsafeMutablePointer<UInt8>?
        var length = 0
        var error: UnsafeMutablePointer<CChar>?
        let rc = cpb_encode_json(raw, message, json.baseAddress?.assumingMemoryBound(to: CChar.self), json.count, &bytes, &length, &error)
        guard rc == 0, let bytes else { throw SchemaError(Self.take(error) ?? "the record does not encode") }
        defer { cpb_free(bytes) }
        return Array(UnsafeBufferPointer(start: bytes, count: length))
    }

    private static func take(_ text: UnsafeMutablePointer<CChar>?) -> String? {
        guard let text else { return nil }
        defer { cpb_free(text) }
        return String(cString: text)
    }
}
