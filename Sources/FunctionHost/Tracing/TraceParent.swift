/// A W3C `traceparent` header value (https://www.w3.org/TR/trace-context/#traceparent-header):
/// `VERSION-TRACEID-PARENTID-FLAGS`, lowercase hex, checked the way the recommendation asks a
/// receiver to (an invalid one is ignored: the invocation starts a new trace).
struct TraceParent: Equatable {
    /// The header's text as version 00 (a later version's four first fields; its extra ones are
    /// dropped, as the recommendation says a receiver of version 00 does).
    let text: String

    /// 32 hex digits.
    var traceID: Substring { text.dropFirst(3).prefix(32) }
    /// 16 hex digits: the span this value names (the parent, to whoever receives it).
    var spanID: Substring { text.dropFirst(36).prefix(16) }
    /// Bit 0 of the flags: the sender sampled its span.
    var sampled: Bool { text.dropFirst(53).prefix(2).last.map { "13579bdf".contains($0) } ?? false }

    /// nil when `bytes` is not a valid `traceparent`: wrong length or separators, not lowercase
    /// hex, version ff, an all-zero trace or span id, or version 00 with anything after the flags.
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-") else { return nil }
        func isHex(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) }
        func hexRun(_ range: Range<Int>) -> (valid: Bool, allZero: Bool) {
            var allZero = true
            for index in range {
                guard isHex(bytes[index]) else { return (false, false) }
                if bytes[index] != UInt8(ascii: "0") { allZero = false }
            }
            return (true, allZero)
        }
        let version = hexRun(0..<2), trace = hexRun(3..<35), span = hexRun(36..<52), flags = hexRun(53..<55)
        guard version.valid, trace.valid, span.valid, flags.valid, !trace.allZero, !span.allZero else { return nil }
        guard !(bytes[0] == UInt8(ascii: "f") && bytes[1] == UInt8(ascii: "f")) else { return nil }
        // Version 00 is exactly 55 characters; a later version may add fields after a dash.
        if version.allZero {
            guard bytes.count == 55 else { return nil }
        } else if bytes.count > 55 && bytes[55] != UInt8(ascii: "-") {
            return nil
        }
        text = "00" + String(decoding: UnsafeRawBufferPointer(rebasing: bytes[2..<55]), as: UTF8.self)
    }

    init?(_ text: String) {
        var text = text
        guard let parsed = text.withUTF8({ TraceParent(UnsafeRawBufferPointer($0)) }) else { return nil }
        self = parsed
    }
}
