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
    var sampled: Bool { decisionInputs.sampled }

    /// nil when `bytes` is not a valid `traceparent`: wrong length or separators, not lowercase
    /// hex, version ff, an all-zero trace or span id, or version 00 with anything after the flags.
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard Self.isValid(bytes) else { return nil }
        text = "00" + String(decoding: UnsafeRawBufferPointer(rebasing: bytes[2..<55]), as: UTF8.self)
    }

    /// What the sampler needs of a valid `traceparent`, read in place (no text made): bit 0 of
    /// its flags, and the low 64 bits of its trace id.
    static func decisionInputs(_ bytes: UnsafeRawBufferPointer) -> SpanSampling.Parent {
        func value(_ byte: UInt8) -> UInt64 { UInt64(byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : byte - UInt8(ascii: "a") + 10) }
        var low: UInt64 = 0
        for index in 19..<35 { low = low << 4 | value(bytes[index]) }
        return SpanSampling.Parent(sampled: value(bytes[54]) & 1 == 1, traceIDLow: low)
    }

    /// ``decisionInputs(_:)`` of this value.
    var decisionInputs: SpanSampling.Parent {
        var text = text
        return text.withUTF8 { Self.decisionInputs(UnsafeRawBufferPointer($0)) }
    }

    /// Whether `bytes` is a `traceparent` a receiver takes (see ``init(_:)-(UnsafeRawBufferPointer)``).
    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-") else { return false }
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
        guard version.valid, trace.valid, span.valid, flags.valid, !trace.allZero, !span.allZero else { return false }
        guard !(bytes[0] == UInt8(ascii: "f") && bytes[1] == UInt8(ascii: "f")) else { return false }
        // Version 00 is exactly 55 characters; a later version may add fields after a dash.
        if version.allZero {
            guard bytes.count == 55 else { return false }
        } else if bytes.count > 55 && bytes[55] != UInt8(ascii: "-") {
            return false
        }
        return true
    }

    init?(_ text: String) {
        var text = text
        guard let parsed = text.withUTF8({ TraceParent(UnsafeRawBufferPointer($0)) }) else { return nil }
        self = parsed
    }
}
