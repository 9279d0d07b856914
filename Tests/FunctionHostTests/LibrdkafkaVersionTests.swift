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

    @Test("below 2.2 the stall workaround is a 50 ms metadata refresh, from 2.2 on fetch.queue.backoff.ms")
    func versionDependentDefaults() {
        func properties(_ version: Int32) -> [String: String] {
            Dictionary(LibrdkafkaVersion.consumerProperties(version: version), uniquingKeysWith: { $1 })
        }
        #expect(properties(0x0200_02ff) == ["topic.metadata.refresh.interval.ms": "50"])   // Debian 12
        #expect(properties(0x0201_01ff) == ["topic.metadata.refresh.interval.ms": "50"])
        #expect(properties(0x0202_00ff) == ["fetch.queue.backoff.ms": "10"])
        #expect(properties(0x0208_00ff) == ["fetch.queue.backoff.ms": "10"])               // Debian trixie
    }

    @Test("every consumer gets the defaults of the librdkafka it runs with, and librdkafka accepts them")
    func consumerPropertiesMatchTheLoadedLibrary() throws {
        let properties = Dictionary(KafkaOptions().consumerProperties, uniquingKeysWith: { $1 })
        if rd_kafka_version() >= LibrdkafkaVersion.fetchQueueBackoff {
            #expect(properties["fetch.queue.backoff.ms"] == "10")
            #expect(properties["topic.metadata.refresh.interval.ms"] == nil)
        } else {
            #expect(properties["topic.metadata.refresh.interval.ms"] == "50")
            #expect(properties["fetch.queue.backoff.ms"] == nil)
        }
        let configuration = try KafkaClient.makeConfiguration(KafkaOptions().consumerProperties, origin: "test")
        rd_kafka_conf_destroy(configuration)
    }
}
