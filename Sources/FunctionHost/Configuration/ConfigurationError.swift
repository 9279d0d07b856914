/// A problem in `host.json`, a `function.json` or `local.settings.json`, naming the file, the
/// field and what to do about it.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file the problem is in, as the user would type it (relative to the script root).
    public let file: String
    /// The field, as a path (`bindings[0].cardinality`); empty when the whole file is at fault.
    public let field: String
    public let message: String

    public init(file: String, field: String = "", _ message: String) {
        self.file = file
        self.field = field
        self.message = message
    }

    public var description: String {
        field.isEmpty ? "\(file): \(message)" : "\(file): \(field): \(message)"
    }
}
