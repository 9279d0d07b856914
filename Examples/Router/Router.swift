import SwiftFunctions

/// cardinality ONE with a kafka output binding: forwards each message, upper-cased, to the output
/// topic under the same key, and logs where it landed.
@_cdecl("run")
public func run(_ event: UnsafePointer<sf_event>?, _ output: UnsafePointer<sf_output>?, _ context: UnsafePointer<sf_context>?) -> Int32 {
    invoke(event, output, context) { event, output, context in
        let routed = (event.valueString ?? "").uppercased()
        let delivery = try output.sendAndWait(value: Array(routed.utf8), key: event.key.map { Array($0) },
                                              headers: [("routed-from", Array(event.topic.utf8))])
        context.log("routed '\(routed)' to \(delivery.topic) [\(delivery.partition)] @ \(delivery.offset)")
    }
}
