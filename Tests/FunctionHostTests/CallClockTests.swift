import Foundation
import Testing
@testable import FunctionHost

/// The clock that times every call (``CallClock``): what it reports must be the time the
/// monotonic clock saw pass, whether it reads the CPU's counter or not.
@Suite("Call clock", .timeLimit(.minutes(10)))
struct CallClockTests {
    @Test("A measured pause reads as the monotonic clock's nanoseconds, within a few percent")
    func agreesWithTheMonotonicClock() {
        let clock = CallClock.process
        for pauseMicroseconds in [2_000, 20_000, 80_000] as [UInt32] {
            let startTicks = clock.now()
            let startNanoseconds = monotonicNanoseconds()
            usleep(pauseMicroseconds)
            let elapsedNanoseconds = monotonicNanoseconds() - startNanoseconds
            let measured = clock.nanoseconds(from: startTicks, to: clock.now())
            let error = abs(Double(measured) - Double(elapsedNanoseconds)) / Double(elapsedNanoseconds)
            #expect(error < 0.03, "paused \(pauseMicroseconds) us: the monotonic clock saw \(elapsedNanoseconds) ns, the call clock \(measured) ns")
        }
    }

    @Test("A reading that steps back (another core's counter) is no time, not years")
    func neverNegative() {
        let clock = CallClock.process
        let later = clock.now()
        #expect(clock.nanoseconds(from: later &+ 1_000, to: later) <= 1_000)
    }
}
