import Foundation

/// A function app folder for one test: host.json, local.settings.json and functions/NAME/.
struct ScriptRoot {
    let url: URL

    init(hostJSON: String = #"{ "version": "2.0" }"#) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("app"))
        try FileManager.default.createDirectory(at: url.appendingPathComponent("functions"), withIntermediateDirectories: true)
        try write("host.json", hostJSON)
    }

    func write(_ path: String, _ contents: String) throws {
        let file = url.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: file)
    }

    /// Adds `functions/NAME/function.json`.
    func addFunction(_ name: String, _ functionJSON: String) throws {
        try write("functions/\(name)/function.json", functionJSON)
    }

    /// A function.json whose trigger uses the Recorder fixture's `entryPoint`, loaded from where
    /// SwiftPM built it (through `scriptFile`).
    static func recorderFunction(broker: String, topic: String, group: String, entryPoint: String = "record_one",
                                 cardinality: String = "ONE", dataType: String = "binary", outputs: [String] = [],
                                 triggerFields: String = "", outputFields: String = "", library: String? = nil) throws -> String {
        let library = try library ?? TestPaths.library("Recorder").path
        let outputBindings = outputs.map {
            #", { "type": "kafka", "direction": "out", "name": "out", "brokerList": "\#(broker)", "topic": "\#($0)"\#(outputFields.isEmpty ? "" : ", " + outputFields) }"#
        }.joined()
        return #"""
            {
              "scriptFile": "\#(library)",
              "entryPoint": "\#(entryPoint)",
              "bindings": [
                { "type": "kafkaTrigger", "direction": "in", "name": "event", "brokerList": "\#(broker)",
                  "topic": "\#(topic)", "consumerGroup": "\#(group)", "cardinality": "\#(cardinality)", "dataType": "\#(dataType)"\#(triggerFields.isEmpty ? "" : ", " + triggerFields) }\#(outputBindings)
              ]
            }
            """#
    }
}
