import ArgumentParser
import Foundation
import FunctionHost

struct ProduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Send messages to a topic.",
        discussion: """
            Sends VALUE, or, without VALUE, one message per line of standard input. The broker is \
            --broker, else the embedded broker of a `swiftfunc start --embedded-broker` running in \
            the script root, else the BrokerList app setting (environment or local.settings.json).
            """
    )

    @Argument(help: "The topic to send to.")
    var topic: String

    @Argument(help: "The message value. Without it, each line of standard input is one message.")
    var value: String?

    @Option(name: .long, help: "The message key.")
    var key: String?

    @Option(name: .long, help: "A header as NAME=VALUE (repeat for more).")
    var header: [String] = []

    @Option(name: .long, help: "The partition (default: chosen by key, or spread).")
    var partition: Int32 = -1

    @Option(name: .long, help: "Bootstrap servers, host:port[,host:port].")
    var broker: String?

    @Option(name: .long, help: "Where to look for a running embedded broker and local.settings.json.")
    var scriptRoot: String = "."

    func run() throws {
        let root = URL(fileURLWithPath: scriptRoot).standardizedFileURL
        guard let brokerList = try resolveBroker(root) else {
            throw ValidationError("no broker to send to: pass --broker HOST:PORT, run `swiftfunc start --embedded-broker` in this folder, or set BrokerList")
        }
        let headers = try header.map { text -> (name: String, value: [UInt8]) in
            guard let equals = text.firstIndex(of: "=") else {
                throw ValidationError("--header \(text): write it as NAME=VALUE")
            }
            return (String(text[..<equals]), Array(text[text.index(after: equals)...].utf8))
        }
        let producer = try RecordProducer(brokerList: brokerList, topic: topic)
        let keyBytes = key.map { Array($0.utf8) }
        var count = 0
        if let value {
            producer.send(value: Array(value.utf8), key: keyBytes, headers: headers, partition: partition)
            count = 1
        } else {
            while let line = readLine(strippingNewline: true) {
                producer.send(value: Array(line.utf8), key: keyBytes, headers: headers, partition: partition)
                count += 1
            }
        }
        let outcome = producer.waitForDeliveries()
        if !outcome.failures.isEmpty {
            throw ValidationError("\(outcome.failures.count) of \(count) messages were not delivered to \(brokerList): \(outcome.failures[0])")
        }
        if count == 1 {
            say("Delivered to \(topic) partition \(outcome.partition) offset \(outcome.offset)")
        } else {
            say("Delivered \(count) messages to \(topic)")
        }
    }

    private func resolveBroker(_ root: URL) throws -> String? {
        if let broker { return broker }
        if let embedded = EmbeddedBrokerFile.read(scriptRoot: root) { return embedded }
        return try AppSettings.load(scriptRoot: root)["BrokerList"]
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
