/// How often, and how far apart, a failed message is tried again before it is dead-lettered:
/// Azure's `retry` object, in function.json (per function) or host.json (the default for all).
///
/// `{"strategy":"fixedDelay","maxRetryCount":3,"delayInterval":"00:00:05"}`
/// `{"strategy":"exponentialBackoff","maxRetryCount":5,"minimumInterval":"00:00:01","maximumInterval":"00:01:00"}`
/// `maxRetryCount` counts retries after the first attempt; -1 retries forever (nothing is ever
/// dead-lettered for failing, and the partition waits as long as it takes).
public struct RetryPolicy: Sendable, Equatable {
    public enum Strategy: Sendable, Equatable {
        case fixedDelay(seconds: Double)
        case exponentialBackoff(minimumSeconds: Double, maximumSeconds: Double)
    }

    public var strategy: Strategy
    public var maxRetryCount: Int

    /// Without a `retry` anywhere: 5 retries, 1 s doubling up to 60 s, then the dead-letter topic.
    public static let `default` = RetryPolicy(strategy: .exponentialBackoff(minimumSeconds: 1, maximumSeconds: 60), maxRetryCount: 5)

    public init(strategy: Strategy, maxRetryCount: Int) {
        self.strategy = strategy
        self.maxRetryCount = maxRetryCount
    }

    /// True when a message that has failed `failures` times is tried again.
    public func retries(afterFailures failures: Int) -> Bool {
        maxRetryCount < 0 || failures <= maxRetryCount
    }

    /// How long to wait after the `failures`-th failure before the next attempt.
    func delay(afterFailures failures: Int) -> Duration {
        switch strategy {
        case .fixedDelay(let seconds):
            return .seconds(seconds)
        case .exponentialBackoff(let minimum, let maximum):
            return Backoff(first: .seconds(minimum), ceiling: .seconds(maximum)).delay(afterFailures: failures)
        }
    }

    /// Seconds to wait after the `failures`-th failure before the next attempt.
    public func delaySeconds(afterFailures failures: Int) -> Double {
        delay(afterFailures: failures).seconds
    }

    /// `retry`'s fields.
    static let fields = KnownFields(used: ["strategy", "maxRetryCount", "delayInterval", "minimumInterval", "maximumInterval"])

    /// The longest delay between two attempts: a day.
    static let maximumIntervalSeconds: Double = 86_400

    static func parse(_ json: JSONObject) throws -> RetryPolicy {
        guard let strategyText = try json.string("strategy") else {
            throw json.error("strategy", "is required: fixedDelay or exponentialBackoff")
        }
        guard let maxRetryCount = try json.int("maxRetryCount", in: -1...10_000) else {
            throw json.error("maxRetryCount", "is required: retries after the first attempt, or -1 for forever")
        }
        func interval(_ key: String) throws -> Double {
            guard let text = try json.string(key) else {
                throw json.error(key, "is required for strategy \(strategyText), as hh:mm:ss")
            }
            guard let seconds = parseTimeSpan(text) else {
                throw json.error(key, "'\(text)' is not a time span; write it as hh:mm:ss (e.g. \"00:00:05\")")
            }
            guard seconds <= maximumIntervalSeconds else {
                throw json.error(key, "must be from 00:00:00 to 1.00:00:00 (a day), not '\(text)'")
            }
            return seconds
        }
        switch normalizedEnumValue(strategyText) {
        case "fixeddelay":
            return RetryPolicy(strategy: .fixedDelay(seconds: try interval("delayInterval")), maxRetryCount: maxRetryCount)
        case "exponentialbackoff":
            let minimum = try interval("minimumInterval")
            let maximum = try interval("maximumInterval")
            guard maximum >= minimum else { throw json.error("maximumInterval", "must not be shorter than minimumInterval") }
            return RetryPolicy(strategy: .exponentialBackoff(minimumSeconds: minimum, maximumSeconds: maximum), maxRetryCount: maxRetryCount)
        default:
            throw json.error("strategy", "unknown value '\(strategyText)'; use fixedDelay or exponentialBackoff")
        }
    }
}
