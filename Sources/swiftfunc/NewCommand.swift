import ArgumentParser
import Foundation

struct NewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Create a function in functions/NAME: a Swift package that depends on the SDK, and its function.json.",
        discussion: """
            The package builds a dynamic library; `swiftfunc build` builds it and copies libNAME.so \
            beside function.json. The trigger's brokerList is the BrokerList app setting. The SDK \
            is this swiftfunc's own checkout, found from where the binary is; --sdk-path overrides it.
            """
    )

    enum Cardinality: String, ExpressibleByArgument, CaseIterable { case one, many }
    enum DataType: String, ExpressibleByArgument, CaseIterable { case string, binary }

    @Argument(help: "The function's name: a Swift identifier (it names the folder, the package and the library).")
    var name: String

    @Option(name: .long, help: "one: one event per call; many: a batch per call.")
    var cardinality: Cardinality = .one

    @Option(name: .long, help: "string: the value is checked to be UTF-8; binary: bytes as they are.")
    var dataType: DataType = .string

    @Option(name: .long, help: "The topic that triggers the function (default: the name in lower case).")
    var topic: String?

    @Option(name: .long, help: "A topic to send to through a kafka output binding (repeat for more).")
    var output: [String] = []

    @Option(name: .long, help: "The swiftfunc checkout to depend on (default: the one this binary was built in).")
    var sdkPath: String?

    @Option(name: .long, help: "The function app folder (default: the current folder).")
    var scriptRoot: String = "."

    func validate() throws {
        let identifier = name.first.map { $0.isLetter || $0 == "_" } == true && name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
        guard identifier, name.allSatisfy(\.isASCII) else {
            throw ValidationError("NAME '\(name)' must be a Swift identifier (letters, digits, _; not starting with a digit): it names the package and its module")
        }
        guard output.count <= 4 else { throw ValidationError("at most 4 --output bindings") }
    }

    func run() throws {
        let root = URL(fileURLWithPath: scriptRoot).standardizedFileURL
        let folder = root.appendingPathComponent("functions/\(name)")
        guard !FileManager.default.fileExists(atPath: folder.path) else {
            throw ValidationError("functions/\(name) exists already; choose another name or remove it")
        }
        let sdk: URL
        if let sdkPath {
            sdk = URL(fileURLWithPath: sdkPath).standardizedFileURL
            guard SDKLocation.isCheckout(sdk) else {
                throw ValidationError("--sdk-path \(sdk.path) is not a swiftfunc checkout (no Package.swift naming the package \"swiftfunc\" with Sources/SwiftFunctions)")
            }
        } else {
            guard let found = SDKLocation.find() else {
                throw ValidationError("cannot find the swiftfunc checkout this binary was built in; pass --sdk-path /path/to/swiftfunc")
            }
            sdk = found
        }
        let template = FunctionTemplate(name: name, many: cardinality == .many, text: dataType == .string,
                                        topic: topic ?? name.lowercased(), outputs: output, sdkPath: sdk.path)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("Sources/\(name)"), withIntermediateDirectories: true)
        for (path, contents) in template.files {
            try Data(contents.utf8).write(to: folder.appendingPathComponent(path))
            say("created  functions/\(name)/\(path)")
        }
        let settings = root.appendingPathComponent("local.settings.json")
        if !FileManager.default.fileExists(atPath: settings.path) {
            say("note: there is no local.settings.json here; run `swiftfunc init` or set BrokerList in the environment")
        }
        say("Next: swiftfunc build, then swiftfunc start --embedded-broker, then swiftfunc produce \(template.topic) hello")
    }
}
