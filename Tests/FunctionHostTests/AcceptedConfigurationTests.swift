import Foundation
import Testing
@testable import FunctionHost

/// The supervisor's copy of the accepted configuration, without a broker or a process: what a
/// change asks of the worker, and which library file a worker loads.
@Suite("Accepted configuration", .timeLimit(.minutes(10)))
struct AcceptedConfigurationTests {
    private let greeter = Data(#"{ "bindings": [] }"#.utf8)

    @Test("What a change asks: nothing for the same bytes, one function for its function.json, a new worker for host.json or a library")
    func changes() {
        let accepted: AcceptedConfiguration.Files = ["host.json": Data("{}".utf8), "functions/A/function.json": greeter, "functions/B/function.json": greeter]
        #expect(ConfigurationChange(from: accepted, to: accepted).isEmpty)

        var edited = accepted
        edited["functions/A/function.json"] = Data(#"{ "bindings": [], "disabled": true }"#.utf8)
        edited["functions/C/function.json"] = greeter
        edited["functions/B/function.json"] = nil
        let functions = ConfigurationChange(from: accepted, to: edited)
        #expect(functions.functions == ["A", "B", "C"])
        #expect(functions.files == ["functions/A/function.json", "functions/B/function.json", "functions/C/function.json"])
        #expect(!functions.replacesWorker)

        var host = accepted
        host["host.json"] = Data(#"{ "version": "2.0" }"#.utf8)
        #expect(ConfigurationChange(from: accepted, to: host).replacesWorker)
        let library = ConfigurationChange(from: accepted, to: accepted, libraries: ["functions/A/libA.so"])
        #expect(library.replacesWorker)
        #expect(library.files == ["functions/A/libA.so"])
    }

    @Test("A worker reads the generation in force, and loads a library replaced since from the file kept when it was accepted")
    func generationsAndKeptLibraries() throws {
        let root = try ScriptRoot()
        try root.addFunction("A", #"{ "bindings": [] }"#)
        try root.write("functions/A/libA.so", "accepted library")
        let state = root.url.appendingPathComponent(".swiftfunc/state")
        let configuration = try AcceptedConfiguration(stateDirectory: state, scriptRoot: root.url)
        let library = root.url.appendingPathComponent("functions/A/libA.so").path

        let files = ConfigurationFiles(scriptRoot: root.url, snapshot: configuration.current)
        #expect(try files.functionDirectories().map(\.lastPathComponent) == ["A"])
        #expect(files.library(library).path == library, "the file on disk is the accepted one")

        // Refused: staged, checked, discarded. The generation in force is unchanged.
        try root.addFunction("A", #"{ "bindings": "#)
        let refused = try configuration.stage(AcceptedConfiguration.read(scriptRoot: root.url), libraries: ["functions/A/libA.so"])
        configuration.discard(refused)
        #expect(configuration.accepted["functions/A/function.json"] == Data(#"{ "bindings": [] }"#.utf8))

        // The library replaced by a new file (as swiftfunc build does): the kept one is loaded.
        try root.write("functions/A/libA.so.new", "refused library")
        #expect(rename(library + ".new", library) == 0)
        let kept = ConfigurationFiles(scriptRoot: root.url, snapshot: configuration.current).library(library)
        #expect(kept.kept)
        #expect(try String(contentsOfFile: kept.path, encoding: .utf8) == "accepted library")

        // Accepted: the new generation is in force, with the new library as its own.
        try root.addFunction("A", #"{ "bindings": [], "entryPoint": "other" }"#)
        try configuration.accept(configuration.stage(AcceptedConfiguration.read(scriptRoot: root.url), libraries: ["functions/A/libA.so"]))
        let now = ConfigurationFiles(scriptRoot: root.url, snapshot: configuration.current)
        #expect(try Data(contentsOf: now.definition(of: "A")) == Data(#"{ "bindings": [], "entryPoint": "other" }"#.utf8))
        #expect(now.library(library).path == library)
    }
}
