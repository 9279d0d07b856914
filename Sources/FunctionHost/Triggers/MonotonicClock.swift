import CDispatch
import Glibc

/// Monotonic nanoseconds, for durations and retry deadlines (cheap: a vDSO call, no allocation).
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Monotonic nanoseconds at the kernel's tick resolution (a few ms): a tenth of
/// ``monotonicNanoseconds()``'s cost, for budgets of hundreds of milliseconds checked per message.
@inline(__always)
func coarseMonotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC_COARSE, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Wall-clock milliseconds since the epoch at the kernel's tick resolution (a few ms), cheap
/// enough to stamp every invocation for the timeout watchdog.
@inline(__always)
func wallClockMilliseconds() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME_COARSE, &time)
    return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
}
