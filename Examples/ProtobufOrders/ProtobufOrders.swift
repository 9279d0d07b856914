import Foundation
import SwiftFunctions

/// dataType string with a `protobufSchema` (functions/ProtobufOrders/order.proto): the host
/// decodes each Confluent-framed Protobuf order and hands it over as proto3 JSON, e.g.
/// {"id":"7","customer":"Cy","items":["tea","cake"],"total":12.5,"placedAt":"2026-12-07T09:30:00Z"}
/// (int64 as a string, lowerCamelCase names, a Timestamp as RFC 3339). Send one with
/// `swiftfunc produce protobuf-orders --protobuf-schema functions/ProtobufOrders/order.proto '{"id": 7, ...}'`.
@_cdecl("run")
public func run(_ order: Event, _ context: Context) -> Status {
    context.run {
        guard let json = order.valueString,
              let fields = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let id = (fields["id"] as? String).flatMap(Int64.init), let customer = fields["customer"] as? String else {
            throw OrderError("not an order: \(order.valueString ?? "null")")
        }
        let items = fields["items"] as? [String] ?? []
        let total = fields["total"] as? Double ?? 0
        let placed = (fields["placedAt"] as? String).map { " placed \($0)" } ?? ""
        context.logger.info("Order \(id) from \(customer): \(items.count) items, total \(total)\(placed)")
    }
}

struct OrderError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@_cdecl("swiftfunc_signature_run")
public func runSignature() -> Signature { .of(run) }
