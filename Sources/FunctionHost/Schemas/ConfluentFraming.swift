/// The Confluent wire format of a schema-encoded key or value: a magic byte 0, the schema's
/// registry id as a 4-byte big-endian integer, then the record in the schema's encoding (Avro
/// binary, JSON text, Protobuf).
enum ConfluentFraming {
    static let magicByte: UInt8 = 0
    static let prefixLength = 5

    /// The schema id and the encoded record of `bytes`, or nil when they are not framed.
    static func unframe(_ bytes: UnsafeRawBufferPointer) -> (schemaID: Int32, body: UnsafeRawBufferPointer)? {
        guard bytes.count >= prefixLength, bytes[0] == magicByte else { return nil }
        let id = Int32(bitPattern: UInt32(bytes[1]) << 24 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 8 | UInt32(bytes[4]))
        return (id, UnsafeRawBufferPointer(rebasing: bytes[prefixLength...]))
    }

    /// `body` framed with `schemaID`.
    static func frame(_ body: [UInt8], schemaID: Int32) -> [UInt8] {
        let id = UInt32(bitPattern: schemaID)
        var framed: [UInt8] = [magicByte, UInt8(id >> 24), UInt8(id >> 16 & 0xff), UInt8(id >> 8 & 0xff), UInt8(id & 0xff)]
        framed.reserveCapacity(prefixLength + body.count)
        framed += body
        return framed
    }
}
