import CRdKafka
import Testing
@testable import FunctionHost

@Suite("librdkafka version and the defaults that depend on it")
struct LibrdkafkaVersionTests {
    @Test("the version string is the loaded library's")
    func versionString() {
        #expect(librdkafkaVersion == String(cString: rd_kafka_version_str()))
        #expect(librdkafkaVersion.split(separator: ".").count >= 3)
    }

    @Test("below 2.2 the stall workaround is no property (no periodic metadata refresh: it made consumers join twice), from 2.2 on fetch.queue.backoff.ms")
    func versionDependentDefaults() {
        func properties(_ version: Int32) -> [String: String] {
            Dictionary(LibrdkafkaVersion.consumerProperties(version: version), uniquingKeysWith: { $1 })
        }
        #expect(properties(0x0200_02ff) == [:])   // Debian 12
        #expect(properties(0x0201_01ff) == [:])
        #expect(properties(0x0202_00ff) == ["fetch.queue.backoff.ms": "10"])
        #expect(properties(0x0208_00ff) == ["fetch.queue.backoff.ms": "10"])               // Debian trixie
        #expect(FetcherWakeup.isNeeded(version: 0x0200_02ff) && FetcherWakeup.isNeeded(version: 0x0201_01ff))
        #expect(!FetcherWakeup.isNeeded(version: 0x0202_00ff) && !FetcherWakeup.isNeeded(version: 0x020E_02ff))
    }

    @Test("every consumer gets the defaults of the librdkafka it runs with, and librdkafka accepts them")
    func consumerPropertiesMatchTheLoadedLibrary() throws {
        let properties = Dictionary(KafkaOptions().consumerProperties, uniquingKeysWith: { $1 })
        #expect(properties["topic.metadata.refresh.interval.ms"] == nil, "librdkafka's own 300 s: its answers reach the group")
        if rd_kafka_version() >= LibrdkafkaVersion.fetchQueueBackoff {
            #expect(properties["fetch.queue.backoff.ms"] == "10")
        } else {
            #expect(properties["fetch.queue.backoff.ms"] == nil)
        }
        let configuration = try KafkaClient.makeConfiguration(KafkaOptions().consumerProperties, origin: "test")
        rd_kafka_conf_destroy(configuration)
    }

    @Test("the fetcher wake-up: nothing before an assignment; then at most one request per 50 ms, and a wait cut short unless the last one found the queue empty")
    func fetcherWakeup() throws {
        let configuration = try KafkaClient.makeConfiguration([("bootstrap.servers", "127.0.0.1:1"), ("group.id", "wakeup")], origin: "test")
        let handle = try KafkaClient.make(RD_KAFKA_CONSUMER, configuration: configuration)
        defer { rd_kafka_destroy(handle) }
        let wakeup = FetcherWakeup()
        let ms: UInt64 = 1_000_000, start: UInt64 = 1_000 * ms
        #expect(wakeup.beforeWaiting(handle, timeoutMs: 1000, now: start) == 1000)
        wakeup.afterTaking(handle, now: start)
        #expect(wakeup.sent == 0, "not armed: no partitions, nothing to fetch")
        wakeup.armed = true
        wakeup.afterTaking(handle, now: start)
        #expect(wakeup.sent == 1, "taking messages: the fetcher may have stopped at a full queue")
        wakeup.afterTaking(handle, now: start + 20 * ms)
        #expect(wakeup.sent == 1, "not again within 50 ms")
        #expect(wakeup.beforeWaiting(handle, timeoutMs: 1000, now: start + 20 * ms) == 30,
                "an empty queue 20 ms after a wake-up sent while the queue was full: wait only until the next may go")
        #expect(wakeup.beforeWaiting(handle, timeoutMs: 1000, now: start + 50 * ms) == 1000, "sent at an empty queue: the fetcher fetches")
        #expect(wakeup.sent == 2)
        #expect(wakeup.beforeWaiting(handle, timeoutMs: 1000, now: start + 60 * ms) == 1000, "the last one found the queue empty already")
        #expect(wakeup.sent == 2)
    }
}
