// Entry-point helpers. A function library exports its entry point with `@_cdecl` and forwards the
// C arguments here; these wrap them in Swift types and turn a thrown error into a failed
// invocation whose message reaches the host's log.

/// Runs `body` for one event (`cardinality: ONE`).
public func invoke(_ event: UnsafePointer<sf_event>?, _ context: UnsafePointer<sf_context>?,
                   _ body: (Event, Context) throws -> Void) -> Int32 {
    guard let event, let context else { return SF_ERROR }
    return run(Context(context)) { try body(Event(event), $0) }
}

/// Runs `body` for one event and one `kafka` output binding.
public func invoke(_ event: UnsafePointer<sf_event>?, _ output: UnsafePointer<sf_output>?, _ context: UnsafePointer<sf_context>?,
                   _ body: (Event, Output, Context) throws -> Void) -> Int32 {
    guard let event, let output, let context else { return SF_ERROR }
    return run(Context(context)) { try body(Event(event), Output(output), $0) }
}

/// Runs `body` for a batch (`cardinality: MANY`).
public func invoke(_ events: UnsafePointer<sf_event>?, _ count: Int, _ context: UnsafePointer<sf_context>?,
                   _ body: (Batch, Context) throws -> Void) -> Int32 {
    guard let context else { return SF_ERROR }
    return run(Context(context)) { try body(Batch(base: events, count: count), $0) }
}

/// Runs `body` for a batch and one `kafka` output binding.
public func invoke(_ events: UnsafePointer<sf_event>?, _ count: Int, _ output: UnsafePointer<sf_output>?,
                   _ context: UnsafePointer<sf_context>?, _ body: (Batch, Output, Context) throws -> Void) -> Int32 {
    guard let output, let context else { return SF_ERROR }
    return run(Context(context)) { try body(Batch(base: events, count: count), Output(output), $0) }
}

private func run(_ context: Context, _ body: (Context) throws -> Void) -> Int32 {
    do {
        try body(context)
        return SF_OK
    } catch {
        context.log("\(error)", level: .error)
        return SF_ERROR
    }
}
