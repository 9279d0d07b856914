import Foundation
import Logging

/// `swiftfunc invoke`: one function loaded from `functions/NAME/` as the host loads it (the same
/// checks and errors: function.json, app settings, library, ABI version, signature), called in
/// this process with synthetic events and no broker at all. Its output records are captured,
/// not produced.
public struct LocalFunction: @unchecked Sendable {
    public let configuration: FunctionConfiguration
    private let library: FunctionLibrary

    /// - Throws: ``ConfigurationError`` (or a library loading error) exactly as `swiftfunc start`
    ///   would report it for this function.
    public static func load(scriptRoot: URL, name: String,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> LocalFunction {
        let settings = try AppSettings.load(scriptRoot: scriptRoot, environment: environment)
        let directories = try FunctionDiscovery.functionDirectories(scriptRoot: scriptRoot)
        guard let directory = directories.first(where: { $0.lastPathComponent == name }) else {
            let known = directories.map(\.lastPathComponent)
            throw ConfigurationError(file: "functions/\(name)/function.json",
                "there is no function '\(name)'" + (known.isEmpty ? "" : "; the functions are: \(known.joined(separator: ", "))"))
        }
        let configuration = try FunctionConfiguration.load(directory: directory, scriptRoot: scriptRoot, settings: settings)
        let library = try FunctionLibrary.load(configuration, scriptRoot: scriptRoot)
        return LocalFunction(configuration: configuration, library: library)
    }

    /// Calls the function once: `records` is one event for a ONE function, a batch for MANY
    /// (with an `eventFormat`, the function gets that platform's document of them).
    public func invoke(_ records: [SyntheticRecord], logger: Logger) throws -> OperatorInvocationResult {
        var logger = logger
        logger[metadataKey: "function"] = "\(configuration.name)"
        if let warning = library.uncheckedWarning { logger.warning("\(warning)") }
        let invocation = try OperatorInvocation(function: configuration, library: library, producers: nil, logger: logger)
        return invocation.run(records)
    }
}
