// A function ported from AWS Lambda: its handler parsed the self-managed Kafka event with
// Codable, and keeps doing so. Its trigger sets "eventFormat": "aws", so the host hands it the
// same JSON Lambda would (records grouped by "topic-partition", base64 keys and values).
import Foundation
import SwiftFunctions

struct KafkaEvent: Decodable {
    struct Record: Decodable {
        let topic: String
        let partition: Int
        let offset: Int64
        let timestamp: Int64
        let key: String?
        let value: String?
        let headers: [[String: [UInt8]]]
    }
    let eventSource: String
    let bootstrapServers: String
    let records: [String: [Record]]
}

/// The Lambda handler, unchanged: logs each order and its total.
func handle(_ event: KafkaEvent, log: (String) -> Void) throws {
    for (topicPartition, records) in event.records.sorted(by: { $0.key < $1.key }) {
        for record in records {
            let key = record.key.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } ?? "-"
            let value = record.value.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
            log("\(event.eventSource) \(topicPartition)@\(record.offset) key=\(key): \(value)")
        }
    }
}

@_cdecl("run")
public func run(_ document: Document, _ context: Context) -> Status {
    context.run {
        let event = try JSONDecoder().decode(KafkaEvent.self, from: Data(document.json.utf8))
        try handle(event) { context.logger.info($0) }
    }
}

@_cdecl("swiftfunc_signature_run")
public func runSignature() -> Signature { .of(run) }
