import CRdKafka

/// The librdkafka this process runs with, as the loaded library reports it
/// (`rd_kafka_version_str()`), e.g. "2.0.2" or "2.8.0". It is the library found at run time, which
/// need not be the one whose headers the host was compiled against. The start banner prints it.
public let librdkafkaVersion = String(cString: rd_kafka_version_str())

/// Consumer defaults that depend on the running librdkafka's version (`rd_kafka_version()`,
/// `0xMMmmrrpp`), chosen at run time so one build works with Debian 12's 2.0.2 and with current
/// releases. ARCHITECTURE.md ("Consumer defaults") says why each is there; bench/STALL.md has the
/// measurements.
enum LibrdkafkaVersion {
    /// librdkafka 2.2.0 (any pre-release included): the first with `fetch.queue.backoff.ms`.
    static let fetchQueueBackoff: Int32 = 0x0202_0000

    /// 2.0.2's stall workaround: a metadata refresh wakes the fetching broker thread.
    static let metadataRefreshIntervalMs = 50

    /// 2.2+: how long a partition whose local queue is full waits before the fetcher looks again.
    static let fetchQueueBackoffMs = 10

    /// The version-dependent consumer properties, for `version` (default: the loaded library's).
    ///
    /// Both settings are about one stall: once the consumer's local queue holds
    /// `queued.min.messages`, librdkafka stops fetching and looks again only later, so a function
    /// faster than the fetcher sits idle (0.2 M msg/s instead of 2 M for a no-op).
    /// - Below 2.2 "later" is the fetching broker thread's next wake-up, up to a second (a
    ///   compile-time constant there). A metadata refresh wakes it: every 50 ms costs one small
    ///   Metadata request per consumer, and makes some consumers join their group twice at start.
    /// - From 2.2 on it is `fetch.queue.backoff.ms` (default 1000 ms): set short, the
    ///   fetcher looks again in 10 ms by its own timer, and the metadata refresh stays at
    ///   librdkafka's default (300 s).
    static func consumerProperties(version: Int32 = rd_kafka_version()) -> [(String, String)] {
        version >= fetchQueueBackoff
            ? [("fetch.queue.backoff.ms", "\(fetchQueueBackoffMs)")]
            : [("topic.metadata.refresh.interval.ms", "\(metadataRefreshIntervalMs)")]
    }
}
