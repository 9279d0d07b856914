/// An entry point's shape as its library describes it (`swiftfunc_signature_ENTRY()`), and as
/// function.json expects it. docs/ABI.md defines the text: `trigger=one|many|document outputs=N`.
struct FunctionSignature: Equatable, CustomStringConvertible {
    enum Trigger: String {
        case one, many, document
    }

    var trigger: Trigger
    var outputs: Int

    /// What function.json binds the entry point to: with an eventFormat the function gets one
    /// document per call, whatever the cardinality.
    init(expectedBy function: FunctionConfiguration) {
        if function.trigger.eventFormat != .native {
            trigger = .document
        } else {
            trigger = function.trigger.cardinality == .one ? .one : .many
        }
        outputs = function.outputs.count
    }

    init(trigger: Trigger, outputs: Int) {
        self.trigger = trigger
        self.outputs = outputs
    }

    /// Parses a descriptor; unknown keys are ignored so later versions can add some.
    /// - Returns: `nil` when `trigger` or `outputs` is missing or malformed.
    init?(descriptor: String) {
        var trigger: Trigger?
        var outputs: Int?
        for pair in descriptor.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ";" }) {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "trigger": trigger = Trigger(rawValue: String(parts[1]))
            case "outputs": outputs = Int(parts[1]).flatMap { $0 >= 0 ? $0 : nil }
            default: continue
            }
        }
        guard let trigger, let outputs else { return nil }
        self.trigger = trigger
        self.outputs = outputs
    }

    var description: String { "trigger=\(trigger.rawValue) outputs=\(outputs)" }

    /// What the entry point's parameters are, in words, for error messages.
    var parameters: String {
        let first: String
        switch trigger {
        case .one: first = "one event (cardinality ONE)"
        case .many: first = "a batch of events (cardinality MANY)"
        case .document: first = "one JSON document (an eventFormat other than native)"
        }
        return "\(first) and \(outputs) output binding\(outputs == 1 ? "" : "s")"
    }

    /// Why `library` cannot be called as `expected`, as a configuration error naming the field
    /// to change; `nil` when they match.
    static func mismatch(library: FunctionSignature, expected: FunctionSignature, function: FunctionConfiguration,
                         libraryName: String) -> ConfigurationError? {
        guard library != expected else { return nil }
        let says = "\(libraryName) exports '\(function.entryPoint)' taking \(library.parameters), but function.json binds it to \(expected.parameters)"
        let trigger = function.trigger.path
        if library.trigger != expected.trigger {
            switch (library.trigger, expected.trigger) {
            case (.document, _):
                return ConfigurationError(file: function.file, field: "\(trigger).eventFormat",
                                          "\(says); set \"eventFormat\" to the platform shape the function parses (azure, aws or tencent)")
            case (_, .document):
                return ConfigurationError(file: function.file, field: "\(trigger).eventFormat",
                                          "\(says); remove \"eventFormat\" (or set it to native), or rebuild the function to take a Document")
            default:
                let wanted = library.trigger == .one ? "ONE" : "MANY"
                return ConfigurationError(file: function.file, field: "\(trigger).cardinality",
                                          "\(says); set \"cardinality\": \"\(wanted)\" or change the function")
            }
        }
        let fix = library.outputs > expected.outputs
            ? "add \(library.outputs - expected.outputs) { \"type\": \"kafka\", \"direction\": \"out\", \"topic\": ..., \"brokerList\": ... } binding(s)"
            : "remove \(expected.outputs - library.outputs) kafka output binding(s)"
        return ConfigurationError(file: function.file, field: "bindings", "\(says); \(fix), or change the function")
    }
}
