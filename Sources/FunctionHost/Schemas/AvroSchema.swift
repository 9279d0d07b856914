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

private func lastAvroError(or fallback: String) -> String {
    guard let text = avro_strerror(), text.pointee != 0 else { return fallback }
    return String(cString: text)
}

/// Converts between Avro binary and JSON text for one thread.
///
/// Not thread-safe and not Sendable: it reuses avro-c values, a reader, a writer
/// and an output buffer across calls, so keep one per invoking thread. Schemas
/// may be shared freely; the codec caches its avro-c objects per schema. Debian
/// builds libavro without THREADSAFE, so the avro-c text quoted in an error comes
/// from a process-wide buffer and may, when two threads fail at once, be the
/// other thread's; no success path writes that buffer.
///
/// Decoding writes the Avro JSON encoding itself instead of calling
/// `avro_value_to_json`, because avro-c 1.11.1 (Debian 12's libavro) cuts bytes
/// and fixed values at the first 0x00 (AVRO-4136; decimals often contain 0x00), prints
/// doubles with 17 significant digits (0.1 becomes 0.10000000000000001) and reads
/// an uninitialised symbol for an out-of-range enum index. The output is otherwise
/// the same: one line (compact, where jansson puts a space after `,` and `:`),
/// record fields in schema order, null union branches as
/// `null`, other branches as `{"name": value}`, bytes and fixed as strings of
/// code points U+0000-U+00FF with `\u00XX` escapes, enums as their symbol, logical
/// types as their underlying type. Differences: non-ASCII string characters are
/// written as UTF-8 rather than `\u` escapes, and named union branches use the
/// full (namespaced) name. NaN and ±Infinity, which JSON cannot express, make
/// decoding throw, as `avro_value_to_json` also fails on them.
package final class AvroCodec {
    private final class Entry {
        let schema: AvroSchema
        let iface: UnsafeMutablePointer<avro_value_iface_t>
        var value = avro_value_t()
        /// Union branch names as quoted JSON keys, so the hot path does not build
        /// a String per union per record. avro-c shares primitive schema objects,
        /// which is fine: the same object always has the same name.
        var branchKeys: [avro_schema_t: [UInt8]] = [:]

        init(schema: AvroSchema) throws(SchemaError) {
            guard let iface = avro_generic_class_from_schema(schema.raw) else {
                throw SchemaError("cannot build avro-c values for the schema '\(schema.displayName)': \(lastAvroError(or: "unknown error"))")
            }
            guard avro_generic_value_new(iface, &value) == 0 else {
                cavro_value_iface_decref(iface)
                throw SchemaError("cannot build avro-c values for the schema '\(schema.displayName)': \(lastAvroError(or: "unknown error"))")
            }
            self.schema = schema
            self.iface = iface
        }

        deinit {
            avro_value_decref(&value)
            cavro_value_iface_decref(iface)
        }

        func branchKey(_ branch: avro_schema_t) -> [UInt8] {
            if let key = branchKeys[branch] { return key }
            var key: [UInt8] = []
            var name = AvroSchema.fullName(branch)
            _ = name.withUTF8 { AvroCodec.appendString(UnsafeRawBufferPointer($0), to: &key) }
            branchKeys[branch] = key
            return key
        }
    }

    /// Entries keep their schema alive, so an ObjectIdentifier key cannot be
    /// reused by another schema while cached.
    private var entries: [ObjectIdentifier: Entry] = [:]
    private static let maxEntries = 64
    private let placeholder: UnsafeMutablePointer<CChar>
    private let reader: avro_reader_t
    private let writer: avro_writer_t
    private var scratch: [UInt8] = []

    package init() {
        // avro-c's memory reader and writer need some buffer at creation; each
        // call points them at the real one.
        placeholder = .allocate(capacity: 1)
        placeholder.pointee = 0
        reader = avro_reader_memory(placeholder, 0)
        writer = avro_writer_memory(placeholder, 0)
    }

    deinit {
        entries.removeAll()
        avro_reader_free(reader)
        avro_writer_free(writer)
        placeholder.deallocate()
    }

    private func entry(for schema: AvroSchema) throws(SchemaError) -> Entry {
        let key = ObjectIdentifier(schema)
        if let entry = entries[key] { return entry }
        if entries.count >= Self.maxEntries { entries.removeAll() }
        let entry = try Entry(schema: schema)
        entries[key] = entry
        return entry
    }

    // MARK: Decoding

    /// Avro binary (without the Confluent 5-byte prefix) to one line of JSON in UTF-8.
    package func decode(_ bytes: UnsafeRawBufferPointer, schema: AvroSchema) throws(SchemaError) -> [UInt8] {
        let entry = try entry(for: schema)
        let source = bytes.baseAddress.map { $0.assumingMemoryBound(to: CChar.self) } ?? UnsafePointer(placeholder)
        avro_reader_memory_set_source(reader, source, Int64(bytes.count))
        let rc = avro_value_read(reader, &entry.value)
        if rc == ENOSPC {
            throw SchemaError("the value is \(bytes.count) bytes, too short for the schema '\(schema.displayName)' (\(lastAvroError(or: "truncated"))): truncated, or written with another schema?")
        }
        if rc != 0 {
            throw SchemaError("the value (\(bytes.count) bytes) does not decode with the schema '\(schema.displayName)' (\(lastAvroError(or: "error \(rc)"))): written with another schema?")
        }
        let used = consumed(by: &entry.value, of: bytes.count)
        if used != bytes.count {
            throw SchemaError("the value is \(bytes.count) bytes but the schema '\(schema.displayName)' reads \(used): written with another schema?")
        }

        // The result is copied out at its exact size so the scratch buffer stays
        // uniquely owned and its capacity is reused by the next call.
        scratch.removeAll(keepingCapacity: scratch.capacity <= Self.maxRetainedScratch)
        do {
            try Self.emit(entry.value, entry: entry, into: &scratch)
        } catch {
            throw SchemaError(error.message(subject: "cannot write the value as JSON"))
        }
        return Array(scratch)
    }

    private static let maxRetainedScratch = 1 << 20

    /// How many bytes the last read took. Probing the reader for one more byte
    /// would say so directly, but a failed avro-c read writes its error text into
    /// a process-wide buffer (Debian's libavro is built without THREADSAFE), so
    /// the usual case is settled by re-measuring the value instead, which matches
    /// whenever the writer used the canonical encoding; only otherwise does the
    /// reader get probed, byte by byte.
    private func consumed(by value: inout avro_value_t, of total: Int) -> Int {
        var size = 0
        if avro_value_sizeof(&value, &size) == 0, size == total {
            return total
        }
        var probe: CChar = 0
        var remaining = 0
        while avro_read(reader, &probe, 1) == 0 {
            remaining += 1
        }
        return total - remaining
    }

    private static func emit(_ value: avro_value_t, entry: Entry, into out: inout [UInt8]) throws(PathError) {
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

    private static func appendInteger(_ number: Int64, to out: inout [UInt8]) {
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
    private static func appendEscaped(_ byte: UInt8, to out: inout [UInt8]) {
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

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// Each byte is one code point U+0000-U+00FF, the Avro JSON form of bytes and fixed.
    private static func appendCodePoints(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
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

    /// Copies UTF-8 text as a JSON string; false if it is not valid UTF-8, since
    /// invalid text would make the whole document invalid.
    fileprivate static func appendString(_ text: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Bool {
        out.append(UInt8(ascii: "\""))
        var index = 0
        let count = text.count
        while index < count {
            let byte = text[index]
            if byte < 0x80 {
                if needsEscape(byte) { appendEscaped(byte, to: &out) } else { out.append(byte) }
                index += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch byte {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return false
            }
            guard index + length <= count, (low...high).contains(text[index + 1]) else { return false }
            for offset in 2..<max(length, 2) where !(0x80...0xBF).contains(text[index + offset]) {
                return false
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[index..<(index + length)]))
            index += length
        }
        out.append(UInt8(ascii: "\""))
        return true
    }

    // MARK: Encoding

    /// JSON text to Avro binary (without the Confluent prefix).
    ///
    /// Accepts the Avro JSON encoding and, for unions, the plain value when one
    /// branch fits it: a JSON integer picks int, then long, then double, then
    /// float; a fractional number picks double before float. A missing field
    /// takes the schema's default, else null when its type is a union with null.
    package func encode(json: UnsafeRawBufferPointer, schema: AvroSchema) throws(SchemaError) -> [UInt8] {
        let document: Any
        do {
            document = try JSONSerialization.jsonObject(with: Data(json), options: [.fragmentsAllowed])
        } catch {
            throw SchemaError("the output is not valid JSON: \(error.localizedDescription)")
        }
        let entry = try entry(for: schema)
        cavro_value_reset(&entry.value)
        do {
            try Self.fill(&entry.value, with: document, schema: schema)
        } catch {
            throw SchemaError(error.message(subject: "the output does not match the schema '\(schema.displayName)'"))
        }

        var size = 0
        guard avro_value_sizeof(&entry.value, &size) == 0 else {
            throw SchemaError("cannot size the Avro value: \(lastAvroError(or: "unknown error"))")
        }
        var rc: Int32 = 0
        let writer = self.writer
        let placeholder = self.placeholder
        let result = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            let destination = buffer.baseAddress.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: CChar.self) } ?? placeholder
            avro_writer_memory_set_dest(writer, destination, Int64(size))
            rc = avro_value_write(writer, &entry.value)
            initialized = rc == 0 ? size : 0
        }
        guard rc == 0 else {
            throw SchemaError("cannot write the Avro value: \(lastAvroError(or: "error \(rc)"))")
        }
        return result
    }

    private static func fill(_ value: inout avro_value_t, with json: Any, schema: AvroSchema) throws(PathError) {
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

    private static func fillRecord(_ value: inout avro_value_t, with json: Any, recordSchema: avro_schema_t, schema: AvroSchema) throws(PathError) {
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
    private static func fillDefault(_ value: inout avro_value_t, with json: Any, schema: AvroSchema) throws(PathError) {
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

    private static func nullBranch(of value: avro_value_t) -> Int32? {
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

    private static func fillUnion(_ value: inout avro_value_t, with json: Any, unionSchema: avro_schema_t, schema: AvroSchema) throws(PathError) {
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
    private static func accepts(_ schema: avro_schema_t, _ json: Any) -> Bool {
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

    private static func codePoints(_ json: Any, expected: String) throws(PathError) -> [UInt8] {
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
    private static func isBool(_ number: NSNumber) -> Bool {
        number.objCType.pointee == CChar(UInt8(ascii: "c"))
    }

    /// The JSON number as an Int64 when it is integral and in range, whatever
    /// representation JSONSerialization chose for it.
    private static func integer(_ json: Any) -> Int64? {
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

    private static func mismatch(_ expected: String, _ json: Any) -> PathError {
        PathError("expected \(expected), got \(describe(json))")
    }

    private static func describe(_ json: Any) -> String {
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
