import ArgumentParser
import Logging
import ServiceLifecycle
import Foundation
import FunctionHost

struct BrokerCommand: AsyncParsableCommand {
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

    @Flag(name: .long, help: "Read commands from standard input, one per line, to rehearse broker trouble: `down`, `up` (all brokers), `down ID`, `up ID`, `topic NAME`.")
    var controlStdin = false

    func validate() throws {
        guard (1...1_000).contains(partitions) else { throw ValidationError("--partitions must be from 1 to 1000, not \(partitions)") }
    }

    func run() async throws {
        let broker = try EmbeddedBroker()
        try broker.createTopics(topic, partitions: partitions)
        say(broker.bootstrapServers)
        printError(EmbeddedBroker.notice)
        if !topic.isEmpty { printError("Topics: \(topic.joined(separator: ", ")) (\(partitions) partitions each)") }
        if controlStdin {
            let partitions = partitions
            Thread.detachNewThread {
                while let line = readLine() {
                    let words = line.split(separator: " ").map(String.init)
                    switch (words.first, words.count > 1 ? words[1] : nil) {
                    case ("down", let id?): broker.setBroker(Int32(id) ?? 1, up: false)
                    case ("down", nil): broker.setAllBrokers(up: false)
                    case ("up", let id?): broker.setBroker(Int32(id) ?? 1, up: true)
                    case ("up", nil): broker.setAllBrokers(up: true)
                    case ("topic", let name?): try? broker.createTopic(name, partitions: partitions)
                    default:
                        printError("unknown command '\(line)': use down [ID], up [ID] or topic NAME")
                        continue
                    }
                    say("ok \(line)")
                }
            }
        }
        // Until SIGINT or SIGTERM.
        try await ServiceGroup.host([UntilShutdown()], logger: Logger(label: "swiftfunc.broker")).run()
        withExtendedLifetime(broker) {}
    }
}
