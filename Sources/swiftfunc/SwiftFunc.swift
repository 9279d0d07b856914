import ArgumentParser
import FunctionHost

@main
struct SwiftFunc: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftfunc",
        abstract: "Runs Swift (or C) functions in-process on Kafka messages.",
        discussion: """
            Put each function in functions/NAME/ (its function.json and libNAME.so) next to a \
            host.json, then run `swiftfunc start` in that folder. From nothing: `swiftfunc init`, \
            `swiftfunc new NAME`, `swiftfunc build`, `swiftfunc start --embedded-broker`.
            """,
        // `swiftfunc --version`: which librdkafka the binary loads (bench/run.py reports it).
        version: "swiftfunc, librdkafka \(librdkafkaVersion)",
        subcommands: [InitCommand.self, NewCommand.self, BuildCommand.self, StartCommand.self, InvokeCommand.self, BrokerCommand.self, ProduceCommand.self]
    )
}
