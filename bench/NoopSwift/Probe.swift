// The benchmark's probe, shared by the version 2 (SDK) and version 1 (bench/NoopSwiftV1) Swift
// functions: counts events and writes the result the benchmark waits for. No SDK type in here.
#if canImport(Glibc)
import Glibc
#endif

/// Counts events; when $BENCH_EXPECTED have arrived, writes "FIRST_NS LAST_NS COUNT"
/// (CLOCK_MONOTONIC: the first call, the call that reached the count) to $BENCH_RESULT.
/// The first call creates the file $BENCH_READY when that is set (the memory run starts its
/// stream then). The host calls a function from one thread, so plain globals suffice.
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
            if let ready = environment("BENCH_READY") { close(open(ready, O_CREAT | O_WRONLY, 0o644)) }
        }
        consumed += count
        if consumed >= expected && !done {
            done = true
            writeResult("\(first) \(monotonicNanoseconds()) \(consumed)\n")
        }
    }
}

func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

func writeResult(_ text: String) {
    guard let path = environment("BENCH_RESULT") else { return }
    let descriptor = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
    guard descriptor >= 0 else { return }
    defer { close(descriptor) }
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress, $0.count) }
}
