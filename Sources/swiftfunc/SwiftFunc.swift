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
        // `swiftfunc --version`: this build's version and which librdkafka it loads (bench/run.py
        // reports the latter, from the end of the line).
        version: "swiftfunc \(swiftfuncVersion), librdkafka \(librdkafkaVersion)",
        subcommands: [InitCommand.self, NewCommand.self, BuildCommand.self, StartCommand.self, InvokeCommand.self, BrokerCommand.self, ProduceCommand.self]
    )
}
