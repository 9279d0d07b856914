import CAvro
import Foundation

/// Decoding's JSON side: an avro-c value written as Avro's JSON encoding (see ``AvroCodec``).
extension AvroCodec {
    static func emit(_ value: avro_value_t, entry: Entry, into out: inout [UInt8]) throws(PathError) {
        var value = value
        switch cavro_value_get_type(&value) {
        case AVRO_NULL:
            out.append(contentsOf: "null".utf8)
        case AVRO_BOOLEAN:
            var flag: Int32 = 0
            cavro_value_get_boolean(&value, &flag)
            out.append(contentsOf: flag != 0 ? "true".utf8 : "false".utf8)
        case AVRO_INT32:
            var number: Int32 = 0
            cavro_value_get_int(&value, &number)
            appendInteger(Int64(number), to: &out)
        case AVRO_INT64:
            var number: Int64 = 0
            cavro_value_get_long(&value, &number)
            appendInteger(number, to: &out)
        case AVRO_FLOAT:
            var number: Float = 0
            cavro_value_get_float(&value, &number)
            guard number.isFinite else { throw PathError("the float \(number) has no JSON representation") }
            // Float's own shortest form: 1.1f prints as 1.1, not 1.100000023841858.
            out.append(contentsOf: number.description.utf8)
        case AVRO_DOUBLE:
            var number: Double = 0
            cavro_value_get_double(&value, &number)
            guard number.isFinite else { throw PathError("the double \(number) has no JSON representation") }
            out.append(contentsOf: number.description.utf8)
        case AVRO_STRING:
            var text: UnsafePointer<CChar>?
            var size = 0
            cavro_value_get_string(&value, &text, &size)
            // avro-c counts the NUL terminator it keeps after the text.
            let count = max(size, 1) - 1
            let valid = text.map {
                appendString(UnsafeRawBufferPointer(start: $0, count: count), to: &out)
            } ?? appendString(UnsafeRawBufferPointer(start: nil, count: 0), to: &out)
            guard valid else { throw PathError("the string is not valid UTF-8") }
        case AVRO_BYTES:
            var data: UnsafeRawPointer?
            var size = 0
            cavro_value_get_bytes(&value, &data, &size)
            appendCodePoints(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size), to: &out)
        case AVRO_FIXED:
            var data: UnsafeRawPointer?
            var size = 0
            cavro_value_get_fixed(&value, &data, &size)
            appendCodePoints(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size), to: &out)
        case AVRO_ENUM:
            var index: Int32 = 0
            cavro_value_get_enum(&value, &index)
            let schema = AvroSchema.resolved(cavro_value_get_schema(&value))
            let symbols = avro_schema_enum_number_of_symbols(schema)
            guard index >= 0, index < symbols, let symbol = avro_schema_enum_get(schema, index) else {
                throw PathError("enum index \(index) is out of range for '\(AvroSchema.fullName(schema))' (\(symbols) symbols): written with another schema?")
            }
            _ = appendString(UnsafeRawBufferPointer(start: symbol, count: strlen(symbol)), to: &out)
        case AVRO_ARRAY:
            var count = 0
            cavro_value_get_size(&value, &count)
            out.append(UInt8(ascii: "["))
            for index in 0..<count {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                var element = avro_value_t()
                cavro_value_get_by_index(&value, index, &element, nil)
                do { try emit(element, entry: entry, into: &out) } catch { throw error.inside("[\(index)]") }
            }
            out.append(UInt8(ascii: "]"))
        case AVRO_MAP, AVRO_RECORD:
            let isRecord = cavro_value_get_type(&value) == AVRO_RECORD
            var count = 0
            cavro_value_get_size(&value, &count)
            out.append(UInt8(ascii: "{"))
            for index in 0..<count {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                var child = avro_value_t()
                var name: UnsafePointer<CChar>?
                cavro_value_get_by_index(&value, index, &child, &name)
                let key = name.map { UnsafeRawBufferPointer(start: $0, count: strlen($0)) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
                guard appendString(key, to: &out) else { throw PathError("the map key #\(index) is not valid UTF-8") }
                out.append(UInt8(ascii: ":"))
                do {
                    try emit(child, entry: entry, into: &out)
                } catch {
                    let label = String(decoding: key, as: UTF8.self)
                    throw error.inside(isRecord ? ".\(label)" : "[\"\(label)\"]")
                }
            }
            out.append(UInt8(ascii: "}"))
        case AVRO_UNION:
            var branch = avro_value_t()
            cavro_value_get_current_branch(&value, &branch)
            if cavro_value_get_type(&branch) == AVRO_NULL {
                out.append(contentsOf: "null".utf8)
                return
            }
            var discriminant: Int32 = 0
            cavro_value_get_discriminant(&value, &discriminant)
            let unionSchema = cavro_value_get_schema(&value)
            guard let branchSchema = avro_schema_union_branch(unionSchema, discriminant) else {
                throw PathError("union branch \(discriminant) is not in the schema")
            }
            out.append(UInt8(ascii: "{"))
            out.append(contentsOf: entry.branchKey(branchSchema))
            out.append(UInt8(ascii: ":"))
            try emit(branch, entry: entry, into: &out)
            out.append(UInt8(ascii: "}"))
        default:
            throw PathError("avro-c returned a value of unknown type")
        }
    }

    static func appendInteger(_ number: Int64, to out: inout [UInt8]) {
        if number < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        let start = out.count
        repeat {
            out.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10))
            magnitude /= 10
        } while magnitude != 0
        out[start...].reverse()
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// The escapes jansson (and so `avro_value_to_json`) uses, so that both
    /// produce the same text for ASCII.
    static func appendEscaped(_ byte: UInt8, to out: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
        case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
        case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
        case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
        case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
        case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
        case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
        default:
            out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                    hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
        }
    }

    static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// Each byte is one code point U+0000-U+00FF, the Avro JSON form of bytes and fixed.
    static func appendCodePoints(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in bytes {
            if needsEscape(byte) || byte >= 0x80 {
                appendEscaped(byte, to: &out)
            } else {
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Copies UTF-8 text as a JSON string; false (nothing written) if it is not valid UTF-8,
    /// since invalid text would make the whole document invalid.
    static func appendString(_ text: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Bool {
        if let base = text.baseAddress, !isValidUTF8(base.assumingMemoryBound(to: UInt8.self), count: text.count) { return false }
        out.append(UInt8(ascii: "\""))
        for byte in text {
            if byte < 0x80 && needsEscape(byte) { appendEscaped(byte, to: &out) } else { out.append(byte) }
        }
        out.append(UInt8(ascii: "\""))
        return true
    }
}
