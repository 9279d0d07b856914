import SwiftFunctions

/// cardinality MANY: each value is a JSON object such as {"amount": 3.5}; logs the batch's total
/// per key. A value without a number "amount" is reported as a failed item; the others count.
@_cdecl("run")
public func run(_ events: Event, _ count: Int, _ context: Context) -> Status {
    context.run {
        var totals: [String: Double] = [:]
        for (index, event) in Batch(events, count).enumerated() {
            guard let amount = event.valueString.flatMap({ jsonNumber(named: "amount", in: $0) }) else {
                context.failItem(at: index, reason: "value has no number \"amount\": \(event.valueString ?? "null")")
                continue
            }
            totals[event.keyString ?? "(no key)", default: 0] += amount
        }
        let summary = totals.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        context.logger.info("batch of \(count): \(summary)")
    }
}

@_cdecl("swiftfunc_signature_run")
public func runSignature() -> Signature { .of(run) }

/// The number of the member `name` of a flat JSON object, without a JSON library (the function
/// stays free of Foundation). Escaped names and nested objects are not looked into.
func jsonNumber(named name: String, in json: String) -> Double? {
    let text = Array(json.utf8), quoted = Array("\"\(name)\"".utf8)
    guard let start = (0...max(0, text.count - quoted.count)).first(where: { text[$0...].starts(with: quoted) }) else { return nil }
    var rest = text[(start + quoted.count)...].drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
    guard rest.first == UInt8(ascii: ":") else { return nil }
    rest = rest.dropFirst().drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
    let number = rest.prefix { Array("0123456789+-.eE".utf8).contains($0) }
    return Double(String(decoding: number, as: UTF8.self))
}
