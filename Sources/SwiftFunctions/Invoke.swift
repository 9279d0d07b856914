// Entry-point helpers taking the optional C pointers, for entry points declared with
// `UnsafePointer<sf_event>?` and friends (as before the typed parameters existed). New code
// declares `Event`, `Output` and `Context` parameters and calls `context.run { ... }`.

/// Runs `body` for one event (`cardinality: ONE`).
public func invoke(_ event: Event?, _ context: Context?, _ body: (Event, Context) throws -> Void) -> Status {
    guard let event, let context else { return .error }
    return context.run { try body(event, context) }
}

/// Runs `body` for one event and one `kafka` output binding.
public func invoke(_ event: Event?, _ output: Output?, _ context: Context?, _ body: (Event, Output, Context) throws -> Void) -> Status {
    guard let event, let output, let context else { return .error }
    return context.run { try body(event, output, context) }
}

/// Runs `body` for a batch (`cardinality: MANY`).
public func invoke(_ events: Event?, _ count: Int, _ context: Context?, _ body: (Batch, Context) throws -> Void) -> Status {
    guard let context else { return .error }
    return context.run { try body(Batch(events, count), context) }
}

/// Runs `body` for a batch and one `kafka` output binding.
public func invoke(_ events: Event?, _ count: Int, _ output: Output?, _ context: Context?,
                   _ body: (Batch, Output, Context) throws -> Void) -> Status {
    guard let output, let context else { return .error }
    return context.run { try body(Batch(events, count), output, context) }
}
