import Synchronization

/// Which invocations of a function record a span: the sampler's decision, made by the host
/// before swift-otel is asked, and a ceiling on recorded spans per second.
///
/// Deciding here means an invocation that is not sampled costs a header lookup and a short
/// text, not a span: swift-otel creates (and its propagator formats) a span context even for an
/// unsampled span, about 2.5 µs a call at 1 % sampling (BENCHMARKS.md, "Tracing"). The
/// ceiling keeps what is recorded within what one export thread sends: swift-otel 1.6 queues
/// ended spans without a bound before its batch limit applies, so a fast ONE function traced
/// at 100 % grew the worker by gigabytes. Over the ceiling an invocation is not recorded (and
/// counted); its trace context is still handed on. swift-otel's own sampler is then always-on:
/// it only sees invocations decided here.
final class SpanSampling: Sendable {
    let sampler: TracingSettings.Sampler
    /// Recorded spans per second at most (0: no ceiling).
    let maxSpansPerSecond: Int
    /// Invocations the sampler chose that the ceiling left unrecorded, for
    /// `swiftfunc_trace_spans_over_limit_total`.
    let overLimit = Atomic<Int>(0)
    /// The current second (monotonic, from the coarse clock) in the high 32 bits, spans recorded
    /// in it in the low 32: shared by the consuming thread and the lanes of one function.
    private let window = Atomic<UInt64>(0)

    /// What a decision needs of the record's valid `traceparent` (``TraceParent/decisionInputs(_:)``).
    struct Parent {
        /// Bit 0 of its flags: its sender sampled its span.
        var sampled: Bool
        /// The low 64 bits of its trace id (traceidratio decides by them).
        var traceIDLow: UInt64
    }

    init(sampler: TracingSettings.Sampler, maxSpansPerSecond: Int) {
        self.sampler = sampler
        self.maxSpansPerSecond = maxSpansPerSecond
    }

    /// Whether an invocation whose record carries `parent` (nil: none, or a batch) records a span.
    /// - Parameter random: a uniformly random number, for the ratio of new traces.
    func records(parent: Parent?, random: UInt64) -> Bool {
        guard sampled(parent: parent, random: random) else { return false }
        guard takeFromBudget() else {
            overLimit.wrappingAdd(1, ordering: .relaxed)
            return false
        }
        return true
    }

    /// The sampler's decision, as OpenTelemetry's samplers of these names make it.
    func sampled(parent: Parent?, random: UInt64) -> Bool {
        switch sampler {
        case .alwaysOn: true
        case .alwaysOff: false
        case .traceIDRatio(let ratio): Self.below(ratio, parent?.traceIDLow ?? random)
        case .parentBasedAlwaysOn: parent?.sampled ?? true
        case .parentBasedAlwaysOff: parent?.sampled ?? false
        case .parentBasedTraceIDRatio(let ratio): parent?.sampled ?? Self.below(ratio, random)
        }
    }

    /// `value` (uniform over 64 bits) falls in the first `ratio` of its range.
    private static func below(_ ratio: Double, _ value: UInt64) -> Bool {
        if ratio >= 1 { return true }
        if ratio <= 0 { return false }
        return value < UInt64(ratio * 18_446_744_073_709_551_615.0)
    }

    private func takeFromBudget() -> Bool {
        guard maxSpansPerSecond > 0 else { return true }
        let second = coarseMonotonicNanoseconds() / 1_000_000_000
        var current = window.load(ordering: .relaxed)
        while true {
            let (windowSecond, count) = (current >> 32, current & 0xFFFF_FFFF)
            let next: UInt64
            if windowSecond != second & 0xFFFF_FFFF {
                next = (second << 32) | 1
            } else if count < UInt64(maxSpansPerSecond) {
                next = current + 1
            } else {
                return false
            }
            let (exchanged, original) = window.compareExchange(expected: current, desired: next, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }
}

/// A fast generator of the random numbers tracing needs per invocation (ratio decisions, the ids
/// of a context handed on unsampled): xorshift64*, seeded from the system's generator; one per
/// invoker, so per thread.
struct TraceRandom {
    private var state: UInt64

    init() {
        var seed: UInt64 = 0
        while seed == 0 { seed = UInt64.random(in: 1...UInt64.max) }
        state = seed
    }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    /// Writes the `traceparent` of an invocation that records no span into `buffer` (55 bytes):
    /// `trace` (the record's 32 hex digits, so its trace continues) or a new trace id, a new span
    /// id, flags 00 (not sampled). No text is made: this runs for every unrecorded invocation.
    mutating func writeUnsampledTraceparent(into buffer: UnsafeMutablePointer<UInt8>, trace: UnsafeRawBufferPointer?) {
        buffer[0] = UInt8(ascii: "0"); buffer[1] = UInt8(ascii: "0"); buffer[2] = UInt8(ascii: "-")
        if let trace {
            for index in 0..<32 { buffer[3 + index] = trace[index] }
        } else {
            Self.writeHex(nonZero(), into: buffer + 3)
            Self.writeHex(next(), into: buffer + 19)
        }
        buffer[35] = UInt8(ascii: "-")
        Self.writeHex(nonZero(), into: buffer + 36)
        buffer[52] = UInt8(ascii: "-"); buffer[53] = UInt8(ascii: "0"); buffer[54] = UInt8(ascii: "0")
    }

    private static func writeHex(_ value: UInt64, into buffer: UnsafeMutablePointer<UInt8>) {
        for index in 0..<16 {
            let digit = UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * index)) & 0xF
            buffer[index] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
        }
    }

    private mutating func nonZero() -> UInt64 {
        var value = next()
        while value == 0 { value = next() }
        return value
    }
}
