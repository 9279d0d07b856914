import SwiftFunctions

/// cardinality MANY: each value is a number; logs the batch's total per key.
@_cdecl("run")
public func run(_ events: UnsafePointer<sf_event>?, _ count: Int, _ context: UnsafePointer<sf_context>?) -> Int32 {
    invoke(events, count, context) { batch, context in
        var totals: [String: Double] = [:]
        for (index, event) in batch.enumerated() {
            guard let text = event.valueString, let number = Double(text) else {
                context.failItem(at: index, reason: "value is not a number")
                continue
            }
            totals[event.keyString ?? "(no key)", default: 0] += number
        }
        let summary = totals.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        context.log("batch of \(batch.count): \(summary)")
    }
}
