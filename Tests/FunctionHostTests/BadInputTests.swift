import Foundation
import Testing
@testable import FunctionHost

/// Each bad function is refused with an error naming its file and field, and the good function
/// beside it keeps running.
@Suite("Bad input", .timeLimit(.minutes(10)))
struct BadInputTests {
    @Test("Every kind of broken function is reported precisely and the good one still runs")
    func brokenFunctionsAreReportedAndOthersRun() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("good")
        try broker.createTopic(topic, partitions: 1)
        let servers = broker.bootstrapServers
        let recorder = try TestPaths.library("Recorder").path
        let good = uniqueName("Good")

        func trigger(_ extra: String = "") -> String {
            #"{ "type": "kafkaTrigger", "direction": "in", "brokerList": "\#(servers)", "topic": "\#(topic)"\#(extra) }"#
        }
        let cases: [(name: String, json: String, expected: [String])] = [
            ("MalformedJSON", #"{ "bindings": [ { "type": "kafkaTrigger", } "#,
             ["functions/MalformedJSON/function.json", "not valid JSON"]),
            ("NoTrigger", #"{ "scriptFile": "\#(recorder)", "bindings": [] }"#,
             ["functions/NoTrigger/function.json: bindings:", "no kafkaTrigger binding"]),
            ("UnknownBinding", #"{ "scriptFile": "\#(recorder)", "bindings": [ \#(trigger()), { "type": "httpTrigger", "direction": "in" } ] }"#,
             ["functions/UnknownBinding/function.json: bindings[1].type:", "unknown binding type 'httpTrigger'"]),
            ("UnknownCardinality", #"{ "scriptFile": "\#(recorder)", "bindings": [ \#(trigger(#", "cardinality": "SOME""#)) ] }"#,
             ["functions/UnknownCardinality/function.json: bindings[0].cardinality:", "unknown value 'SOME'", "ONE or MANY"]),
            ("UnknownDataType", #"{ "scriptFile": "\#(recorder)", "bindings": [ \#(trigger(#", "dataType": "xml""#)) ] }"#,
             ["functions/UnknownDataType/function.json: bindings[0].dataType:", "unknown value 'xml'", "string or binary"]),
            ("MissingLibrary", #"{ "bindings": [ \#(trigger()) ] }"#,
             ["functions/MissingLibrary/function.json: scriptFile:", "functions/MissingLibrary/libMissingLibrary.so does not exist"]),
            ("NotALibrary", #"{ "bindings": [ \#(trigger()) ] }"#,
             ["functions/NotALibrary/function.json: scriptFile:", "could not be loaded as a shared library"]),
            ("MissingSymbol", #"{ "scriptFile": "\#(recorder)", "entryPoint": "no_such_function", "bindings": [ \#(trigger()) ] }"#,
             ["functions/MissingSymbol/function.json: entryPoint:", "does not export the symbol 'no_such_function'"]),
            ("WrongABI", #"{ "scriptFile": "\#(try TestPaths.library("WrongABI").path)", "bindings": [ \#(trigger()) ] }"#,
             ["functions/WrongABI/function.json: scriptFile:", "ABI version 999", "speaks versions 1 and 2"]),
            ("UnresolvedSetting", #"{ "scriptFile": "\#(recorder)", "bindings": [ { "type": "kafkaTrigger", "brokerList": "%NoSuchBrokerSetting%", "topic": "t" } ] }"#,
             ["functions/UnresolvedSetting/function.json: bindings[0].brokerList:", "setting 'NoSuchBrokerSetting' is not set"]),
        ]
        let hosted = try HostedApp(broker: broker,
                                   functions: [(good, try ScriptRoot.recorderFunction(broker: servers, topic: topic, group: good))] + cases.map { ($0.name, $0.json) },
                                   prepare: { try $0.write("functions/NotALibrary/libNotALibrary.so", "this is text, not ELF") },
                                   start: .started)
        defer { hosted.stop() }
        #expect(hosted.report(good)?.status == .running)
        for item in cases {
            guard case .failed(let reason)? = hosted.report(item.name)?.status else {
                Issue.record("\(item.name) was not reported as failed: \(String(describing: hosted.report(item.name)?.status))")
                continue
            }
            for fragment in item.expected {
                #expect(reason.contains(fragment), "\(item.name): \(reason)")
            }
            #expect(hosted.log.contains("Function '\(item.name)' is not running"))
        }

        try hosted.waitForAssignment(good)
        _ = try IndependentClient.produce(broker: servers, [OutgoingMessage(topic: topic, value: "still served")])
        try waitUntil("the good function to run") { try recordedEvents(good).map(\.valueText) == ["still served"] }
    }

    @Test("A malformed host.json stops the host with the file named")
    func malformedHostJSON() throws {
        let root = try ScriptRoot(hostJSON: #"{ "version": "2.0", "extensions": { "kafka": { "maxBatchSize": "lots" } } }"#)
        #expect {
            _ = try FunctionAppHost(scriptRoot: root.url, logger: LogCapture().logger())
        } throws: { error in
            "\(error)" == "host.json: extensions.kafka.maxBatchSize: must be a whole number, not a string"
        }
        try root.write("host.json", "{ nope")
        #expect {
            _ = try FunctionAppHost(scriptRoot: root.url, logger: LogCapture().logger())
        } throws: { error in
            "\(error)".hasPrefix("host.json: is not valid JSON")
        }
    }
}
