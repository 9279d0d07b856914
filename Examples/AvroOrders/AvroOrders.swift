import Foundation
import SwiftFunctions

/// dataType string with an `avroSchema` (functions/AvroOrders/order.avsc): the host decodes each
/// Confluent-framed Avro order and hands it over as JSON, e.g.
/// {"id":7,"customer":"Cy","items":["tea","cake"],"total":12.5,"note":{"string":"window seat"}}
/// (a union's branch is named, Avro's JSON encoding). Send one with
/// `swiftfunc produce avro-orders --avro-schema functions/AvroOrders/order.avsc '{"id": 7, ...}'`.
@_cdecl("run")
public func run(_ order: Event, _ context: Context) -> Status {
    context.run {
        guard let json = order.valueString,
              let fields = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let id = fields["id"] as? Int, let customer = fields["customer"] as? String,
              let items = fields["items"] as? [String], let total = fields["total"] as? Double else {
            throw OrderError("not an order: \(order.valueString ?? "null")")
        }
        let note = (fields["note"] as? [String: Any])?["string"] as? String
        context.logger.info("Order \(id) from \(customer): \(items.count) items, total \(total)\(note.map { " (\($0))" } ?? "")")
    }
}

struct OrderError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@_cdecl("swiftfunc_signature_run")
public func runSignature() -> Signature { .of(run) }
