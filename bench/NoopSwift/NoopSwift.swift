// The benchmark's Swift functions, written as a user would: through the SwiftFunctions SDK.
//   noop_one / noop_many:       do nothing (the micro-benchmark calls these).
//   count_one / count_many:     do nothing but count events, so that the benchmark knows when
//                               the last one arrived (see Probe).
//   latency_one / latency_many: record each event's produce-to-invocation latency (see Latencies).
#if canImport(Glibc)
import Glibc
#endif
import SwiftFunctions

@_cdecl("noop_one")
public func noop_one(_ event: Event, _ context: Context) -> Status {
    context.run {}
}

@_cdecl("noop_many")
public func noop_many(_ events: Event, _ count: Int, _ context: Context) -> Status {
    context.run {}
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

/// Counts events; when $BENCH_EXPECTED have arrived, writes "FIRST_NS LAST_NS COUNT"
/// (CLOCK_MONOTONIC: the first call, the call that reached the count) to $BENCH_RESULT.
/// The host calls a function from one thread, so plain globals suffice.
enum Probe {
    nonisolated(unsafe) static var expected = -1
    nonisolated(unsafe) static var consumed = 0
    nonisolated(unsafe) static var first: UInt64 = 0
    nonisolated(unsafe) static var done = false

    @inline(__always)
    static func counted(_ count: Int) {
        if first == 0 {
            first = monotonicNanoseconds()
            expected = environment("BENCH_EXPECTED").flatMap { Int($0) } ?? Int.max
        }
        consumed += count
        if consumed >= expected && !done {
            done = true
            writeResult("\(first) \(monotonicNanoseconds()) \(consumed)\n")
        }
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

private func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

private func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

private func writeResult(_ text: String) {
    guard let path = environment("BENCH_RESULT") else { return }
    let descriptor = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
    guard descriptor >= 0 else { return }
    defer { close(descriptor) }
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress, $0.count) }
}
