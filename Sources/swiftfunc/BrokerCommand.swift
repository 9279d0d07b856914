import ArgumentParser
import FunctionHost

struct BrokerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run an embedded Kafka broker (librdkafka's mock cluster) until SIGINT or SIGTERM.",
        discussion: """
            Prints its bootstrap address (127.0.0.1:PORT) as the first line on standard output. \
            \(EmbeddedBroker.notice)
            """
    )

    @Option(name: .long, help: "Partitions of each topic created with --topic.")
    var partitions: Int = EmbeddedBroker.defaultPartitions

    @Option(name: .long, help: "A topic to create (repeat for more).")
    var topic: [String] = []

    func validate() throws {
        guard partitions > 0 else { throw ValidationError("--partitions must be at least 1") }
    }

    func run() throws {
        let broker = try EmbeddedBroker()
        for name in topic { try broker.createTopic(name, partitions: partitions) }
        say(broker.bootstrapServers)
        printError(EmbeddedBroker.notice)
        if !topic.isEmpty { printError("Topics: \(topic.joined(separator: ", ")) (\(partitions) partitions each)") }
        _ = waitForTerminationSignal()
    }
}
