// The benchmark's Swift functions, written as a user would: through the SwiftFunctions SDK.
//   noop_one / noop_many:       do nothing (the micro-benchmark calls these).
//   headers_one:                reads the event's headers (ABI version 2 parses them when asked;
//                               the micro-benchmark's cost of a function that reads headers).
//   count_one / count_many:     do nothing but count events, so that the benchmark knows when
//                               the last one arrived (see Probe).
//   latency_one / latency_many: record each event's produce-to-invocation latency (see Latencies).
//   wait_one:                   waits 1 ms per event (as if calling a service), checks that each
//                               key's events arrive in order (see KeyOrder) and counts them like
//                               count_one, safely when the host calls it from many threads at
//                               once (ordering key / unordered; see ConcurrentProbe).
// The counting probe is in Probe.swift, shared with bench/NoopSwiftV1 (the same functions on ABI
// version 1).
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SwiftFunctions

@_cdecl("noop_one")
public func noop_one(_ event: Event, _ context: Context) -> Status {
    context.run {}
}

@_cdecl("noop_many")
public func noop_many(_ events: Event, _ count: Int, _ context: Context) -> Status {
    context.run {}
}

@_cdecl("headers_one")
public func headers_one(_ event: Event, _ context: Context) -> Status {
    context.run { HeaderProbe.seen += event.headers(in: context).count }
}

/// What headers_one read, so that the read is not optimized away.
enum HeaderProbe {
    nonisolated(unsafe) static var seen = 0
}

@_cdecl("count_one")
public func count_one(_ event: Event, _ context: Context) -> Status {
    context.run { Probe.counted(1) }
}

@_cdecl("count_many")
public func count_many(_ events: Event, _ count: Int, _ context: Context) -> Status {
    context.run { Probe.counted(count) }
}

@_cdecl("latency_one")
public func latency_one(_ event: Event, _ context: Context) -> Status {
    context.run { Latencies.record(event) }
}

@_cdecl("latency_many")
public func latency_many(_ events: Event, _ count: Int, _ context: Context) -> Status {
    context.run {
        for event in Batch(events, count) { Latencies.record(event) }
    }
}

@_cdecl("swiftfunc_signature_wait_one")
public func waitOneSignature() -> Signature { .of(wait_one) }

@_cdecl("wait_one")
public func wait_one(_ event: Event, _ context: Context) -> Status {
    context.run {
        ConcurrentProbe.started()
        usleep(1000)
        KeyOrder.check(event)
        ConcurrentProbe.counted()
    }
}

/// Records, per event, its CreateTime (ms) and the time from it to this call in microseconds
/// (the timestamp has millisecond resolution, so each latency is overstated by up to 1 ms,
/// 0.5 ms on average). Written to $BENCH_RESULT as "TIMESTAMP_MS LATENCY_US" lines at exit.
/// The first event creates the file $BENCH_READY, so the benchmark knows the host is consuming.
enum Latencies {
    static let capacity = 4_000_000
    nonisolated(unsafe) static var samples: UnsafeMutablePointer<(Int64, Int64)>?
    nonisolated(unsafe) static var count = 0

    @inline(__always)
    static func record(_ event: Event) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        guard let timestamp = event.timestamp else { return }
        let samples = self.samples ?? start()
        guard count < capacity else { return }
        samples[count] = (timestamp, Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000 - timestamp * 1000)
        count += 1
    }

    private static func start() -> UnsafeMutablePointer<(Int64, Int64)> {
        let storage = UnsafeMutablePointer<(Int64, Int64)>.allocate(capacity: capacity)
        samples = storage
        if let ready = environment("BENCH_READY") { close(open(ready, O_CREAT | O_WRONLY, 0o644)) }
        atexit {
            var text = ""
            for index in 0..<Latencies.count {
                let (timestamp, latency) = Latencies.samples![index]
                text += "\(timestamp) \(latency)\n"
            }
            writeResult(text)
        }
        return storage
    }
}

/// Probe for a function called from many threads at once: when $BENCH_EXPECTED events have been
/// counted, the call that counted the last one writes "FIRST_NS LAST_NS COUNT VIOLATIONS"
/// (CLOCK_MONOTONIC: the start of the first call, the end of the call that reached the count;
/// VIOLATIONS from ``KeyOrder``) to $BENCH_RESULT, exactly once.
enum ConcurrentProbe {
    static let expected: Int = environment("BENCH_EXPECTED").flatMap { Int($0) } ?? Int.max
    static let first = Atomic<UInt64>(0)
    static let consumed = Atomic<Int>(0)

    /// Called at the start of every call; the first one records the time.
    @inline(__always)
    static func started() {
        if first.load(ordering: .relaxed) == 0 {
            _ = first.compareExchange(expected: 0, desired: monotonicNanoseconds(), ordering: .relaxed)
        }
    }

    /// Called at the end of every call, after ``KeyOrder/check(_:)``. The acquire-release add
    /// orders every earlier call's check before the write of the call that reaches the count.
    @inline(__always)
    static func counted() {
        let total = consumed.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
        if total == expected {
            writeResult("\(first.load(ordering: .relaxed)) \(monotonicNanoseconds()) \(total) \(KeyOrder.violations)\n")
        }
    }
}

/// Checks per-key order. Each value starts with "kKEY:SEQ:" (decimal numbers; the rest is
/// padding), SEQ counting 0, 1, 2... per key in the order the benchmark produced them. A call whose
/// SEQ is not exactly the previous SEQ of its key + 1 (or 0 for a key's first) counts as one
/// violation, and so does a value that does not parse. One lock for all keys: the calls take
/// 1 ms each, the critical section well under a microsecond.
enum KeyOrder {
    struct State {
        var last: [Int: Int] = [:]
        var violations = 0
    }

    static let state = Mutex(State())

    static var violations: Int { state.withLock { $0.violations } }

    static func check(_ event: Event) {
        var parsed: (Int, Int)?
        if let value = event.value { parsed = value.withUnsafeBytes(parse) }
        state.withLock { state in
            guard let (key, sequence) = parsed else {
                state.violations += 1
                return
            }
            if sequence != (state.last[key] ?? -1) + 1 { state.violations += 1 }
            state.last[key] = sequence
        }
    }

    /// "k12:345:..." -> (12, 345).
    static func parse(_ bytes: UnsafeRawBufferPointer) -> (Int, Int)? {
        guard bytes.first == UInt8(ascii: "k") else { return nil }
        var index = 1
        func number() -> Int? {
            var value = 0
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            guard index > start, index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            return value
        }
        guard let key = number(), let sequence = number() else { return nil }
        return (key, sequence)
    }
}
