import ArgumentParser
import Foundation
import FunctionHost
import Logging

struct InvokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invoke",
        abstract: "Call one function once with a value or an event file, in this process, with no broker.",
        discussion: """
            Loads functions/NAME as `swiftfunc start` would (same checks, same errors) and calls it \
            once with VALUE, or with the event(s) in --event FILE: a JSON object {"topic", "partition", \
            "offset", "timestamp", "key", "value", "headers"} (every field optional; headers an object \
            or a list of [name, value] pairs), or an array of them for a MANY function. With an \
            eventFormat, the function gets that platform's document, as usual. Prints what the \
            function logged, the outcome and the records its output bindings would have sent (they \
            are captured, not produced). Exits 0 when the invocation succeeded, 1 when it failed, \
            64 when the function cannot be loaded.
            """
    )

    @Argument(help: "The function: its folder name under functions/.")
    var name: String

    @Argument(help: "The event's value (UTF-8 text).")
    var value: String?

    @Option(name: .long, help: "The event's key.")
    var key: String?

    @Option(name: .long, help: "A header as NAME=VALUE (repeat for more).")
    var header: [String] = []

    @Option(name: .long, help: "A JSON file with one event, or an array of events for MANY.")
    var event: String?

    @Option(name: .long, help: "The folder holding host.json and functions/ (default: the current folder).")
    var scriptRoot: String = "."

    func validate() throws {
        guard (value == nil) != (event == nil) else {
            throw ValidationError("give the event's value, or --event FILE (not both)")
        }
        if event != nil && (key != nil || !header.isEmpty) {
            throw ValidationError("--key and --header go with VALUE; with --event FILE put them in the file")
        }
    }

    func run() throws {
        let root = URL(fileURLWithPath: scriptRoot).standardizedFileURL
        let function: LocalFunction
        do {
            // As the host does: local.settings.json Values reach the function as environment variables.
            try AppSettings.load(scriptRoot: root).exportLocalValuesToEnvironment()
            function = try LocalFunction.load(scriptRoot: root, name: name)
        } catch {
            // Not a mistake on the command line: no usage text, exit 64 as for a host that cannot load it.
            FileHandle.standardError.write(Data("Error: cannot load function '\(name)': \(error)\n".utf8))
            throw ExitCode(HostSupervisor.configurationErrorStatus)
        }
        let trigger = function.configuration.trigger
        let records = try event.map { try Self.readEvents(URL(fileURLWithPath: $0), topic: trigger.topic) } ?? [
            SyntheticRecord(topic: trigger.topic, partition: 0, offset: 0, timestamp: Self.now(),
                            key: key.map { Array($0.utf8) }, value: value.map { Array($0.utf8) }, headers: try headers()),
        ]
        if trigger.cardinality == .one && records.count != 1 {
            throw ValidationError("'\(name)' has cardinality ONE: give one event, not \(records.count)")
        }
        // The function's lines are printed with the result below, not as they happen.
        let logger = Logger(label: "swiftfunc") { _ in SwiftLogNoOpLogHandler() }
        let result = try function.invoke(records, logger: logger)
        print("Function: \(name) (\(records.count) event\(records.count == 1 ? "" : "s"), topic \(trigger.topic))")
        print("Logged:")
        for line in result.logs { print("  \(line.level) \(line.message)") }
        if result.logs.isEmpty { print("  (nothing)") }
        print("Outcome: \(result.outcome)" + (result.failure.map { ": \($0)" } ?? ""))
        for (index, reason) in result.failedItems.sorted(by: { $0.key < $1.key }) { print("  item \(index) failed: \(reason)") }
        print("Output records (captured, not produced): \(result.records.count)")
        for record in result.records {
            var line = "  \(record.topic)"
            if record.partition >= 0 { line += " partition=\(record.partition)" }
            line += " key=\(Self.show(record.key)) value=\(Self.show(record.value))"
            if !record.headers.isEmpty { line += " headers=" + record.headers.map { "\($0.name)=\(Self.show($0.value))" }.joined(separator: ",") }
            print(line)
        }
        if !result.succeeded { throw ExitCode(1) }
    }

    private func headers() throws -> [(String, [UInt8]?)] {
        try header.map { text in
            guard let equals = text.firstIndex(of: "=") else { throw ValidationError("--header \(text): write it as NAME=VALUE") }
            return (String(text[..<equals]), Array(text[text.index(after: equals)...].utf8))
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    static func show(_ bytes: [UInt8]?) -> String {
        guard let bytes else { return "null" }
        if let text = String(validating: bytes, as: UTF8.self) { return "\"\(text)\"" }
        return "base64:" + Data(bytes).base64EncodedString()
    }

    /// What an event object in an --event file may hold.
    static let eventFields = ["topic", "partition", "offset", "timestamp", "key", "value", "headers"]

    /// Reads one event or an array of events; missing fields get the trigger's topic,
    /// partition 0, offsets counting from 0 and the current time.
    static func readEvents(_ file: URL, topic: String) throws -> [SyntheticRecord] {
        let data: Data
        do { data = try Data(contentsOf: file) } catch { throw ValidationError("--event \(file.path): cannot read it: \(error.localizedDescription)") }
        guard let parsed = try? JSONSerialization.jsonObject(with: data) else {
            throw ValidationError("--event \(file.path): not JSON; write one event object, or an array of them")
        }
        let objects: [Any] = (parsed as? [Any]) ?? [parsed]
        return try objects.enumerated().map { index, item in
            guard let object = item as? [String: Any] else {
                throw ValidationError("--event \(file.path): event \(index) is not an object")
            }
            // A misspelt field would otherwise be ignored and the event sent without it.
            if let unknown = object.keys.sorted().first(where: { !Self.eventFields.contains($0) }) {
                throw ValidationError("--event \(file.path): event \(index): unknown field \"\(unknown)\"; the fields are \(Self.eventFields.map { "\"\($0)\"" }.joined(separator: ", "))")
            }
            func bytes(_ field: String) throws -> [UInt8]? {
                switch object[field] {
                case nil, is NSNull: return nil
                case let text as String: return Array(text.utf8)
                default: throw ValidationError("--event \(file.path): event \(index): \"\(field)\" must be a string or null")
                }
            }
            var headers: [(String, [UInt8]?)] = []
            if let map = object["headers"] as? [String: Any] {
                headers = map.sorted { $0.key < $1.key }.map { ($0.key, ($0.value as? String).map { Array($0.utf8) }) }
            } else if let list = object["headers"] as? [[Any]] {
                headers = try list.map { pair in
                    guard pair.count == 2, let name = pair[0] as? String else {
                        throw ValidationError("--event \(file.path): event \(index): each header is [name, value]")
                    }
                    return (name, (pair[1] as? String).map { Array($0.utf8) })
                }
            } else if object["headers"] != nil && !(object["headers"] is NSNull) {
                throw ValidationError("--event \(file.path): event \(index): \"headers\" is an object of strings or a list of [name, value] pairs")
            }
            return SyntheticRecord(
                topic: object["topic"] as? String ?? topic,
                partition: Int32((object["partition"] as? Int) ?? 0),
                offset: Int64((object["offset"] as? Int) ?? index),
                timestamp: (object["timestamp"] as? Int).map(Int64.init) ?? now(),
                key: try bytes("key"), value: try bytes("value"), headers: headers)
        }
    }
}
