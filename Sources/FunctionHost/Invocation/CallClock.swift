import CDispatch
import CTicks
import Foundation

/// Times function calls for the invocation-duration histogram and the "Executed" log line.
///
/// A ONE function is timed around every call, so the clock is read twice per message on the
/// consuming thread. `clock_gettime(CLOCK_MONOTONIC)` costs about 20 ns here (the vDSO reads
/// the counter and converts it under a sequence lock); that was a tenth of the consuming
/// thread's time (BENCHMARKS.md, "The ONE path, paid back"). The CPU's counter read directly
/// costs about 8 ns; its ticks are turned into nanoseconds only for the histogram, with a rate
/// measured against the monotonic clock once per process. It is used only where the kernel
/// itself keeps time with it (clocksource `tsc`, or AArch64's architected counter), which is
/// where it is known to be steady across cores and frequency changes; elsewhere ticks are
/// monotonic nanoseconds.
struct CallClock: Sendable {
    /// Nanoseconds per tick; nil when ticks are nanoseconds already.
    let nanosecondsPerTick: Double?

    /// The process's clock, calibrated at first use (a few milliseconds, once).
    static let process = CallClock(nanosecondsPerTick: hardwareCounterIsSteady() ? calibrate() : nil)

    @inline(__always)
    func now() -> UInt64 {
        nanosecondsPerTick == nil ? monotonicNanoseconds() : sf_read_ticks()
    }

    /// Nanoseconds between two readings of ``now()``.
    @inline(__always)
    func nanoseconds(from start: UInt64, to end: UInt64) -> UInt64 {
        let ticks = end &- start
        // A reading across cores may step back by a few ticks: no negative durations.
        guard ticks < UInt64(Int64.max) else { return 0 }
        guard let nanosecondsPerTick else { return ticks }
        return UInt64(Double(ticks) * nanosecondsPerTick)
    }

    private static func hardwareCounterIsSteady() -> Bool {
        guard SF_TICKS_FROM_HARDWARE == 1 else { return false }
        #if arch(x86_64)
        let path = "/sys/devices/system/clocksource/clocksource0/current_clocksource"
        guard let source = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
        return source.trimmingCharacters(in: .whitespacesAndNewlines) == "tsc"
        #else
        return true
        #endif
    }

    /// Ticks per nanosecond over 5 ms of the monotonic clock (a reading error of 20 ns each side
    /// is under 0.001 % of it).
    private static func calibrate() -> Double {
        let startNanoseconds = monotonicNanoseconds()
        let startTicks = sf_read_ticks()
        // A signal may cut a sleep short: sleep until the 5 ms have passed.
        while monotonicNanoseconds() - startNanoseconds < 5_000_000 { usleep(1_000) }
        let endTicks = sf_read_ticks()
        let endNanoseconds = monotonicNanoseconds()
        guard endTicks > startTicks else { return 1 }
        return Double(endNanoseconds - startNanoseconds) / Double(endTicks - startTicks)
    }
}
