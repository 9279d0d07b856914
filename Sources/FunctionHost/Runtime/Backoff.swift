/// The one exponential backoff of the host: the retry policy's `exponentialBackoff`, the wait
/// before asking an unreachable schema registry again, and the supervisor's restart delay all
/// double from a first delay up to a ceiling.
struct Backoff: Equatable, Sendable {
    let first: Duration
    let ceiling: Duration

    /// The delay after the `failures`-th failure in a row (1: the first delay).
    func delay(afterFailures failures: Int) -> Duration {
        // 2^30 times any first delay is past every ceiling the host uses (a day at most).
        let doubled = first * (1 << min(max(failures - 1, 0), 30))
        return min(doubled, ceiling)
    }

    /// Asking the schema registry again: 1 s, 2, 4 ... up to 30 s.
    static let schemaRegistry = Backoff(first: .seconds(1), ceiling: .seconds(30))
    /// Restarting a worker that crashed soon after it started: 1 s, 2, 4 ... up to 30 s.
    static let workerRestart = Backoff(first: .seconds(1), ceiling: .seconds(30))
}

extension Duration {
    /// The duration in seconds, for log lines and `Date` arithmetic.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }

    /// The duration in nanoseconds (for deadlines on ``monotonicNanoseconds()``); never negative.
    var nanoseconds: UInt64 {
        let (whole, attoseconds) = components
        guard whole >= 0 else { return 0 }
        return UInt64(whole) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}
