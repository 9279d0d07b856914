import ArgumentParser
import Foundation

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a function app in a folder: host.json, local.settings.json, functions/, .gitignore.",
        discussion: """
            Files that exist are kept. local.settings.json holds the BrokerList app setting every \
            function made by `swiftfunc new` reads its broker list from; `swiftfunc start \
            --embedded-broker` overrides it with an in-process broker.
            """
    )

    @Option(name: .long, help: "The folder to create the app in (default: the current folder).")
    var scriptRoot: String = "."

    @Option(name: .long, help: "The BrokerList setting written to local.settings.json.")
    var brokerList: String = "127.0.0.1:9092"

    func run() throws {
        let root = URL(fileURLWithPath: scriptRoot).standardizedFileURL
        try FileManager.default.createDirectory(at: root.appendingPathComponent("functions"), withIntermediateDirectories: true)
        let files: [(String, String)] = [
            ("host.json", """
                {
                  "version": "2.0",
                  "logging": { "logLevel": { "default": "Information" } },
                  "extensions": { "kafka": { "maxBatchSize": 64, "autoOffsetReset": "Earliest" } }
                }

                """),
            ("local.settings.json", """
                {
                  "IsEncrypted": false,
                  "Values": {
                    "BrokerList": "\(brokerList)"
                  }
                }

                """),
            (".gitignore", """
                # Build output of each function package, and the libraries `swiftfunc build` copies in
                .build/
                functions/*/.build/
                functions/*/lib*.so
                .swiftpm/
                Package.resolved
                # The running host's state (the embedded broker's address)
                .swiftfunc/
                # App settings may hold secrets, as in Azure Functions
                local.settings.json

                """),
        ]
        for (name, contents) in files {
            let file = root.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: file.path) {
                say("kept     \(name) (exists)")
            } else {
                try Data(contents.utf8).write(to: file)
                say("created  \(name)")
            }
        }
        say("created  functions/")
        say("Next: swiftfunc new NAME --topic TOPIC, then swiftfunc build, then swiftfunc start --embedded-broker")
    }
}
