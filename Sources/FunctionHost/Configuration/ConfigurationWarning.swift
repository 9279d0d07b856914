/// Something in a configuration file the host reads past: a field it does not know (with the
/// nearest known name, since that is usually a typo), or one it knows from Azure Functions but
/// does not support yet. A warning, never an error: Azure's files carry fields swiftfunc has no
/// use for.
public struct ConfigurationWarning: CustomStringConvertible, Sendable, Equatable {
    public let file: String
    /// The field, as a path (`bindings[0].dataTyp`).
    public let field: String
    public let message: String

    public init(file: String, field: String, _ message: String) {
        self.file = file
        self.field = field
        self.message = message
    }

    public var description: String { "\(file): \(field): \(message)" }
}

/// The fields one object of a configuration file may hold.
struct KnownFields {
    /// Fields the host reads.
    var used: [String]
    /// Fields of Azure's format the host knows but does not support, with what to do instead.
    var unsupported: [String: String] = [:]
    /// Fields of Azure's format that mean nothing here (say, the .NET extension bundle): no warning.
    var ignored: [String] = []

    /// A warning for every field of `object` that is not used, naming the nearest used field
    /// for an unknown one.
    func warnings(for object: JSONObject) -> [ConfigurationWarning] {
        let usedKeys = Set(used.map { $0.lowercased() })
        let ignoredKeys = Set(ignored.map { $0.lowercased() })
        let unsupportedKeys = Dictionary(unsupported.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        var warnings: [ConfigurationWarning] = []
        for (key, _) in object.originalEntries {
            let lowered = key.lowercased()
            if usedKeys.contains(lowered) || ignoredKeys.contains(lowered) { continue }
            if let advice = unsupportedKeys[lowered] {
                warnings.append(ConfigurationWarning(file: object.file, field: object.fieldPath(key), "is not supported yet and is ignored; \(advice)"))
                continue
            }
            var message = "unknown field, ignored"
            if let nearest = Self.nearest(to: key, among: used) { message += "; did you mean '\(nearest)'?" }
            warnings.append(ConfigurationWarning(file: object.file, field: object.fieldPath(key), message))
        }
        return warnings
    }

    /// The name in `candidates` closest to `name` (case, `_` and `-` aside), when it is close
    /// enough to be a typo of it: at most a third of its letters differ (at least 2 may).
    static func nearest(to name: String, among candidates: [String]) -> String? {
        let target = Array(normalizedEnumValue(name))
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(target, Array(normalizedEnumValue(candidate)))
            if distance < (best?.distance ?? .max) { best = (candidate, distance) }
        }
        guard let best, best.distance <= max(2, target.count / 3) else { return nil }
        return best.name
    }

    /// Levenshtein distance.
    private static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
