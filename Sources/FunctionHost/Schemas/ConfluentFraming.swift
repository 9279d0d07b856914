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

    /// A Protobuf record's message-index array, which follows the schema id: which message of the
    /// `.proto` file the record is (a path through top-level and nested messages), as a zig-zag
    /// varint count then zig-zag varint indexes; the single byte 0 means [0], the first message.
    /// The indexes and the message bytes after them, or nil when the array is cut short or absurd.
    static func unframeMessageIndexes(_ body: UnsafeRawBufferPointer) -> (indexes: [Int32], message: UnsafeRawBufferPointer)? {
        var position = 0
        func zigZag() -> Int64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while position < body.count, shift < 64 {
                let byte = body[position]
                position += 1
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1) }
                shift += 7
            }
            return nil
        }
        guard let count = zigZag(), count >= 0, count <= body.count - position else { return nil }
        var indexes: [Int32] = count == 0 ? [0] : []
        for _ in 0..<count {
            guard let index = zigZag(), let narrow = Int32(exactly: index) else { return nil }
            indexes.append(narrow)
        }
        return (indexes, UnsafeRawBufferPointer(rebasing: body[position...]))
    }

    /// The message-index array for `indexes` (the single byte 0 for [0], as Confluent writes it).
    static func messageIndexes(_ indexes: [Int32]) -> [UInt8] {
        if indexes == [0] { return [0] }
        var bytes: [UInt8] = []
        func zigZag(_ value: Int64) {
            var encoded = UInt64(bitPattern: (value << 1) ^ (value >> 63))
            while encoded >= 0x80 {
                bytes.append(UInt8(encoded & 0x7f) | 0x80)
                encoded >>= 7
            }
            bytes.append(UInt8(encoded))
        }
        zigZag(Int64(indexes.count))
        indexes.forEach { zigZag(Int64($0)) }
        return bytes
    }
}
