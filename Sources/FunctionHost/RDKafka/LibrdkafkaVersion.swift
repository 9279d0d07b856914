import CRdKafka

/// The librdkafka this process runs with, as the loaded library reports it
/// (`rd_kafka_version_str()`), e.g. "2.0.2" or "2.14.2". It is the library found at run time, which
/// need not be the one whose headers the host was compiled against. The start banner prints it.
public let librdkafkaVersion = String(cString: rd_kafka_version_str())

/// Consumer defaults that depend on the running librdkafka's version (`rd_kafka_version()`,
/// `0xMMmmrrpp`), chosen at run time so one build works with Debian 12's 2.0.2 and with current
/// releases. ARCHITECTURE.md ("Consumer defaults") says why each is there; bench/STALL.md has the
/// measurements.
enum LibrdkafkaVersion {
    /// librdkafka 2.2.0 (any pre-release included): the first with `fetch.queue.backoff.ms`.
    static let fetchQueueBackoff: Int32 = 0x0202_0000

    /// librdkafka 2.12.0: the first whose KIP-848 consumer group protocol (`group.protocol=consumer`)
    /// is production-ready (2.4 to 2.11 had it as a preview).
    static let consumerGroupProtocol: Int32 = 0x020C_0000

    /// `0xMMmmrrpp` as "M.m.r", for messages.
    static func text(_ version: Int32) -> String {
        "\((version >> 24) & 0xff).\((version >> 16) & 0xff).\((version >> 8) & 0xff)"
    }

    /// 2.2+: how long a partition whose local queue is full waits before the fetcher looks again.
    static let fetchQueueBackoffMs = 10

    /// The version-dependent consumer properties, for `version` (default: the loaded library's).
    ///
    /// Both remedies are for one stall: once the consumer's local queue holds
    /// `queued.min.messages`, librdkafka stops fetching and looks again only later, so a function
    /// faster than the fetcher sits idle (0.2 M msg/s instead of 2 M for a no-op).
    /// - Below 2.2 "later" is the fetching broker thread's next wake-up, up to a second (a
    ///   compile-time constant there), and no property changes it: a request queued on that thread
    ///   wakes it. The consumer sends one itself (``FetcherWakeup``), not through
    ///   `topic.metadata.refresh.interval.ms` (the host's workaround until 2026-12-07), whose
    ///   answers librdkafka also applies to the group: at 3 of 16 starts of `make run` a
    ///   function joined its group twice, 9 s late. So there is no property below 2.2.
    /// - From 2.2 on it is `fetch.queue.backoff.ms` (default 1000 ms, still in 2.14.2): set short,
    ///   the fetcher looks again in 10 ms by its own timer, and the metadata refresh stays at
    ///   librdkafka's default (300 s). Re-checked on 2.14.2 (one C consumer, mock cluster, 960k
    ///   messages over 24 partitions, a busy 2-core machine): 0.42 and 0.59 M msg/s with 10 ms
    ///   against 0.33 and 0.23 with the default; the consumer protocol gains as much.
    static func consumerProperties(version: Int32 = rd_kafka_version()) -> [(String, String)] {
        version >= fetchQueueBackoff ? [("fetch.queue.backoff.ms", "\(fetchQueueBackoffMs)")] : []
    }
}
