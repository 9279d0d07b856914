/// How long a partition waits before a failed message is delivered again: 1 s after the first
/// failure, doubling up to 60 s, for as long as it keeps failing (nothing is skipped). Retry
/// counts and dead-lettering will replace "forever" per function.
struct RetryBackoff: Sendable {
    var initialSeconds: Double = 1
    var maximumSeconds: Double = 60

    func delaySeconds(afterFailures failures: Int) -> Double {
        min(maximumSeconds, initialSeconds * Double(1 << min(max(failures - 1, 0), 20)))
    }
}
