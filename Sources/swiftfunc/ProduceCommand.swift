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
            the script root, else the BrokerList app setting (environment or local.settings.json). \
            With --avro-schema each value is JSON, sent as Confluent-framed Avro (what a trigger \
            with that avroSchema, or a schema registry, decodes). With --protobuf-schema each value \
            is proto3 JSON, sent as Confluent-framed Protobuf (the message --message names, else \
            the file's first).
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

    @Option(name: .long, help: "An Avro schema file (.avsc): values are JSON, sent as Confluent-framed Avro (schema id 0 unless --schema-registry).")
    var avroSchema: String?

    @Option(name: .long, help: "A .proto file: values are proto3 JSON, sent as Confluent-framed Protobuf (schema id 0 unless --schema-registry).")
    var protobufSchema: String?

    @Option(name: .long, help: "With --protobuf-schema: the message to send, by full name (default: the file's first).")
    var message: String?

    @Option(name: .long, help: "With --avro-schema or --protobuf-schema: register the schema under TOPIC-value at this schema registry URL and frame values with its id.")
    var schemaRegistry: String?

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
        let encode = try valueEncoder()
        let producer = try RecordProducer(brokerList: brokerList, topic: topic)
        let keyBytes = key.map { Array($0.utf8) }
        var count = 0
        if let value {
            producer.send(value: try encode(value, nil), key: keyBytes, headers: headers, partition: partition)
            count = 1
        } else {
            while let line = readLine(strippingNewline: true) {
                producer.send(value: try encode(line, count + 1), key: keyBytes, headers: headers, partition: partition)
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

    /// Turns a value as typed (or line `line` of standard input) into the bytes to send.
    private func valueEncoder() throws -> (String, Int?) throws -> [UInt8] {
        if avroSchema != nil && protobufSchema != nil {
            throw ValidationError("--avro-schema and --protobuf-schema: give one, the one the topic is written in")
        }
        if schemaRegistry != nil && avroSchema == nil && protobufSchema == nil {
            throw ValidationError("--schema-registry registers the schema of --avro-schema or --protobuf-schema: give one of them too")
        }
        if message != nil && protobufSchema == nil {
            throw ValidationError("--message names a message of --protobuf-schema: give --protobuf-schema FILE.proto too")
        }
        guard let path = avroSchema ?? protobufSchema else { return { value, _ in Array(value.utf8) } }
        let option = avroSchema != nil ? "--avro-schema" : "--protobuf-schema"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("\(option) \(path): cannot read the file (give the path of an \(avroSchema != nil ? ".avsc" : ".proto") schema)")
        }
        do {
            if avroSchema != nil {
                _ = try AvroSchema(json: text)
            } else {
                _ = try ProtobufSchema(text: text).indexes(of: message)
            }
        } catch {
            throw ValidationError("\(option) \(path): \(error.message)")
        }
        var registry: URL?
        if let schemaRegistry {
            guard let url = URL(string: schemaRegistry), url.scheme == "http" || url.scheme == "https" else {
                throw ValidationError("--schema-registry \(schemaRegistry): write the registry's http(s) URL")
            }
            registry = url
        }
        let encoder = avroSchema != nil
            ? RecordEncoder(avroSchema: text, registry: registry, topic: topic)
            : RecordEncoder(protobufSchema: text, message: message, registry: registry, topic: topic)
        return { value, line in
            let bytes = Array(value.utf8)
            switch bytes.withUnsafeBytes({ encoder.encode($0) }) {
            case .success(let framed): return framed
            case .failure(let error):
                throw ValidationError("\(line.map { "line \($0): " } ?? "")\(error.message) (value: \(value))")
            }
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
