import SwiftFunctions

/// cardinality ONE with a kafka output binding: forwards each message, upper-cased, to the output
/// topic under the same key, waits for the broker, and logs where it landed (or why it did not:
/// a failed delivery throws, which fails the invocation with the broker's reason).
@_cdecl("run")
public func run(_ event: Event, _ routed: Output, _ context: Context) -> Status {
    context.run {
        let text = (event.valueString ?? "").uppercased()
        let delivery = try routed.sendAndWait(value: Array(text.utf8), key: event.keyBytes,
                                              headers: [("routed-from", Array(event.topic.utf8))])
        context.logger.info("routed '\(text)' to \(delivery.topic) [\(delivery.partition)] @ \(delivery.offset)")
    }
}

@_cdecl("swiftfunc_signature_run")
public func runSignature() -> Signature { .of(run) }
