import CAvro
import Foundation

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
    final class Entry {
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
}
