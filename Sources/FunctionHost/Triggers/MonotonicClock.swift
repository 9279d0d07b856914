import Glibc

/// Monotonic nanoseconds, for durations and retry deadlines (cheap: a vDSO call, no allocation).
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
