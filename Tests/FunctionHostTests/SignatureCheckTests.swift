import Foundation
import Testing
@testable import FunctionHost

/// A library describes the parameters its entry point takes; the host refuses, at load time and
/// with the function.json field to change, a library bound to other parameters, and runs the rest.
@Suite("Signature check", .timeLimit(.minutes(10)))
struct SignatureCheckTests {
    @Test("Mismatched signatures and unknown eventFormats are refused by name; matching and undescribed libraries run")
    func mismatchesAreRefused() throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("sig")
        let output = uniqueName("sig-out")
        try broker.createTopic(topic, partitions: 1)
        try broker.createTopic(output, partitions: 1)
        let servers = broker.bootstrapServers
        let recorder = try TestPaths.library("Recorder").path
        let undescribed = try CCompiler.sharedLibrary(code: """
            #include <swiftfunc.h>
            uint32_t swiftfunc_abi_version(void) { return SWIFTFUNC_ABI_VERSION; }
            int32_t run(const sf_event *event, const sf_context *context) { (void)event; (void)context; return SF_OK; }
            """, named: "Undescribed").path
        func function(library: String = recorder, entry: String, _ extra: String = "", outputs: Int = 0) -> String {
            let outputBindings = String(repeating: #", { "type": "kafka", "direction": "out", "brokerList": "\#(servers)", "topic": "\#(output)" }"#, count: outputs)
            return #"""
                { "scriptFile": "\#(library)", "entryPoint": "\#(entry)", "bindings": [
                  { "type": "kafkaTrigger", "brokerList": "\#(servers)", "topic": "\#(topic)", "consumerGroup": "\#(uniqueName("g"))"\#(extra) }\#(outputBindings) ] }
                """#
        }
        let refused: [(name: String, json: String, expected: [String])] = [
            ("ManyBoundAsOne", function(entry: "record_many"),
             ["functions/ManyBoundAsOne/function.json: bindings[0].cardinality:", "exports 'record_many' taking a batch of events (cardinality MANY) and 0 output bindings",
              "binds it to one event (cardinality ONE)", #"set "cardinality": "MANY""#]),
            ("OneBoundAsMany", function(entry: "record_one", #", "cardinality": "many""#),
             ["bindings[0].cardinality:", #"set "cardinality": "ONE""#]),
            ("MissingOutput", function(entry: "forward"),
             ["functions/MissingOutput/function.json: bindings:", "taking one event (cardinality ONE) and 1 output binding", "add 1 {"]),
            ("ExtraOutput", function(entry: "record_one", outputs: 1),
             ["functions/ExtraOutput/function.json: bindings:", "remove 1 kafka output binding"]),
            ("DocumentWithoutFormat", function(entry: "record_document"),
             ["bindings[0].eventFormat:", "one JSON document", "set \"eventFormat\""]),
            ("EventsWithFormat", function(entry: "record_one", #", "eventFormat": "aws""#),
             ["bindings[0].eventFormat:", "remove \"eventFormat\""]),
            ("UnknownFormat", function(entry: "record_document", #", "eventFormat": "gcp""#),
             ["functions/UnknownFormat/function.json: bindings[0].eventFormat:", "unknown value 'gcp'", "native, azure, aws or tencent"]),
        ]
        let running = [
            ("Matching", function(entry: "forward", outputs: 1)),
            ("DocumentAnyCase", function(entry: "record_document", #", "eventFormat": "Tencent", "cardinality": "MANY""#)),
            ("Undescribed", function(library: undescribed, entry: "run")),
        ]
        let hosted = try HostedApp(broker: broker, functions: refused.map { ($0.name, $0.json) } + running, start: .started)
        defer { hosted.stop() }
        for item in refused {
            guard case .failed(let reason)? = hosted.report(item.name)?.status else {
                Issue.record("\(item.name) was not refused: \(String(describing: hosted.report(item.name)?.status))")
                continue
            }
            for fragment in item.expected { #expect(reason.contains(fragment), "\(item.name): \(reason)") }
        }
        for (name, _) in running { #expect(hosted.report(name)?.status == .running, "\(name)") }
        #expect(hosted.log.contains("warning", "does not export swiftfunc_signature_run", "not checked", "expected trigger=one outputs=0"))
        #expect(!hosted.log.contains("warning", "Matching"))
        let document = try #require(hosted.report("DocumentAnyCase")?.configuration)
        #expect(document.trigger.eventFormat == .tencent)
    }
}
