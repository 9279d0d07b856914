import Foundation

/// App settings, as Azure Functions resolves them: the process environment, then the `Values` of
/// `local.settings.json` (as Azure Functions Core Tools loads it). The environment wins, so an
/// operator can override a file without editing it.
public struct AppSettings: Sendable {
    private let environment: [String: String]
    private let localValues: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, localValues: [String: String] = [:]) {
        self.environment = environment
        self.localValues = localValues
    }

    /// Reads `local.settings.json` in `scriptRoot` when there is one.
    /// - Parameter file: where its bytes are read instead (``ConfigurationFiles``: the supervisor's snapshot).
    /// - Throws: ``ConfigurationError`` when the file exists but is malformed.
    public static func load(scriptRoot: URL, environment: [String: String] = ProcessInfo.processInfo.environment,
                            file: URL? = nil) throws -> AppSettings {
        let url = file ?? scriptRoot.appendingPathComponent("local.settings.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            return AppSettings(environment: environment)
        }
        let file = try JSONObject.load(url, displayName: "local.settings.json")
        return AppSettings(environment: environment, localValues: try file.stringMap("Values"))
    }

    /// Sets each `local.settings.json` `Values` entry as an environment variable of this process,
    /// unless the environment has it already (as Azure Functions Core Tools does: the real
    /// environment wins, as it does for ``subscript(name:)``), so that a function reading its
    /// settings with `getenv` finds them. Only the process that hosts the functions calls this
    /// (the worker, `--no-supervisor`, `swiftfunc invoke`): a supervisor that did would hand a
    /// worker started after `local.settings.json` changed the old values.
    public func exportLocalValuesToEnvironment() {
        for (name, value) in localValues.sorted(by: { $0.key < $1.key }) where !name.isEmpty && !name.contains("=") {
            setenv(name, value, 0)
        }
    }

    public subscript(name: String) -> String? {
        environment[name] ?? localValues[name]
    }

    /// Replaces every `%Name%` in `value` with the setting `Name`.
    /// - Throws: ``ConfigurationError`` naming the field and the setting when one is not set.
    func expand(_ value: String, file: String, field: String) throws -> String {
        guard value.contains("%") else { return value }
        var result = ""
        var rest = Substring(value)
        while let open = rest.firstIndex(of: "%") {
            result += rest[..<open]
            let afterOpen = rest.index(after: open)
            guard let close = rest[afterOpen...].firstIndex(of: "%") else {
                result += rest[open...]
                rest = ""
                break
            }
            let name = String(rest[afterOpen..<close])
            guard let resolved = self[name] else {
                throw ConfigurationError(
                    file: file, field: field,
                    "setting '\(name)' is not set; define it in the environment or in local.settings.json \"Values\""
                )
            }
            result += resolved
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }

    /// For fields Azure reads through an app setting (`"brokerList": "BrokerList"`): a value that
    /// names an existing setting becomes that setting's value; anything else is `%`-expanded.
    func resolveSettingOrLiteral(_ value: String, file: String, field: String) throws -> String {
        if !value.contains("%"), let setting = self[value] { return setting }
        return try expand(value, file: file, field: field)
    }
}
