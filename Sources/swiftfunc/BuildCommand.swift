import ArgumentParser
import Foundation
import FunctionHost

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build every function package under functions/ and put each library where its function.json expects it.",
        discussion: """
            For each functions/NAME/ with a Package.swift, runs `swift build` for the product named \
            by function.json's scriptFile (default libNAME.so: product NAME) and copies the library \
            there. SwiftPM's output is shown as it comes; compiler errors are repeated at the end. \
            Folders without a Package.swift (a prebuilt or C library) are left as they are.
            """
    )

    @Option(name: .long, help: "The function app folder (default: the current folder).")
    var scriptRoot: String = "."

    @Option(name: [.short, .long], help: "debug or release.")
    var configuration: String = "debug"

    @Argument(help: "Only these functions (default: all).")
    var names: [String] = []

    func validate() throws {
        guard ["debug", "release"].contains(configuration) else { throw ValidationError("--configuration is debug or release") }
    }

    func run() throws {
        let root = URL(fileURLWithPath: scriptRoot).standardizedFileURL
        let functions = root.appendingPathComponent("functions")
        guard let entries = try? FileManager.default.contentsOfDirectory(at: functions, includingPropertiesForKeys: nil) else {
            throw ValidationError("there is no functions/ folder in \(root.path); run `swiftfunc init` and `swiftfunc new NAME` first")
        }
        var packages = entries.filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("Package.swift").path) }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        if !names.isEmpty {
            let unknown = Set(names).subtracting(packages.map(\.lastPathComponent))
            guard unknown.isEmpty else { throw ValidationError("no function package in functions/ named \(unknown.sorted().joined(separator: ", "))") }
            packages = packages.filter { names.contains($0.lastPathComponent) }
        }
        guard !packages.isEmpty else {
            say("No function packages in functions/ (folders with a Package.swift); create one with `swiftfunc new NAME`.")
            return
        }
        var failures: [(name: String, errors: [String])] = []
        for (index, package) in packages.enumerated() {
            let name = package.lastPathComponent
            say("[\(index + 1)/\(packages.count)] Building \(name) (\(configuration))...")
            do {
                let library = try libraryPath(of: package, name: name)
                let product = productName(library.lastPathComponent)
                let errors = try swiftBuild(package, product: product)
                guard errors.isEmpty else {
                    failures.append((name, errors))
                    say("[\(index + 1)/\(packages.count)] \(name) FAILED")
                    continue
                }
                let built = try binPath(package).appendingPathComponent("lib\(product).so")
                guard FileManager.default.fileExists(atPath: built.path) else {
                    failures.append((name, ["the package built, but not lib\(product).so: make \(product) a .dynamic library product (function.json scriptFile names lib\(product).so)"]))
                    continue
                }
                try? FileManager.default.removeItem(at: library)
                try FileManager.default.copyItem(at: built, to: library)
                say("[\(index + 1)/\(packages.count)] \(name): \(relative(library, to: root))")
            } catch {
                failures.append((name, ["\(error)"]))
                say("[\(index + 1)/\(packages.count)] \(name) FAILED")
            }
        }
        guard failures.isEmpty else {
            printError("")
            for failure in failures {
                printError("\(failure.name) did not build:")
                failure.errors.forEach { printError("  \($0)") }
            }
            throw ExitCode(1)
        }
        say("Built \(packages.count) function\(packages.count == 1 ? "" : "s"). Start them with: swiftfunc start")
    }

    /// Where function.json expects the library: scriptFile, relative to the function's folder.
    private func libraryPath(of package: URL, name: String) throws -> URL {
        var scriptFile = "lib\(name).so"
        let file = package.appendingPathComponent("function.json")
        if let data = try? Data(contentsOf: file), let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let value = json.first(where: { $0.key.lowercased() == "scriptfile" })?.value as? String, !value.isEmpty {
            scriptFile = value
        }
        return scriptFile.hasPrefix("/") ? URL(fileURLWithPath: scriptFile) : package.appendingPathComponent(scriptFile)
    }

    /// `libGreeter.so` → `Greeter`.
    private func productName(_ fileName: String) -> String {
        var name = Substring(fileName)
        if name.hasPrefix("lib") { name = name.dropFirst(3) }
        if name.hasSuffix(".so") { name = name.dropLast(3) }
        return String(name)
    }

    /// Runs `swift build`, echoing its output as it comes.
    /// - Returns: the compiler's error lines (empty when it built).
    private func swiftBuild(_ package: URL, product: String) throws -> [String] {
        let pipe = Pipe()
        let process = try SpawnedProcess(
            URL(fileURLWithPath: "/usr/bin/env"), ["swift", "build", "--package-path", package.path, "-c", configuration, "--product", product],
            standardOutput: .descriptor(pipe.fileHandleForWriting.fileDescriptor),
            standardError: .descriptor(pipe.fileHandleForWriting.fileDescriptor))
        // Only the child writes now: the reads below end when it exits.
        try? pipe.fileHandleForWriting.close()
        var errors: [String] = []
        var pending = Data()
        while true {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            pending.append(chunk)
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                pending.removeSubrange(pending.startIndex...newline)
                say("    " + line)
                if line.contains(": error: ") && !line.contains("`- error:") { errors.append(line) }
            }
        }
        let termination = process.waitUntilExit()
        if termination != .exited(status: 0) && errors.isEmpty {
            errors.append("swift build ended with \(termination)")
        }
        return termination == .exited(status: 0) ? [] : errors
    }

    private func binPath(_ package: URL) throws -> URL {
        let pipe = Pipe()
        let process = try SpawnedProcess(
            URL(fileURLWithPath: "/usr/bin/env"), ["swift", "build", "--package-path", package.path, "-c", configuration, "--show-bin-path"],
            standardOutput: .descriptor(pipe.fileHandleForWriting.fileDescriptor), standardError: .nullDevice)
        try? pipe.fileHandleForWriting.close()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return URL(fileURLWithPath: String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private func relative(_ url: URL, to root: URL) -> String {
        let prefix = root.path + "/"
        return url.path.hasPrefix(prefix) ? String(url.path.dropFirst(prefix.count)) : url.path
    }
}
