import Foundation

struct RecordedHeader: Equatable, CustomStringConvertible {
    var name: String
    var value: [UInt8]?
    var description: String { "\(name)=\(value.map { String(decoding: $0, as: UTF8.self) } ?? "null")" }
}

/// One event as the Recorder fixture wrote it down inside the function.
struct RecordedEvent: Equatable {
    var topic: String
    var partition: Int32
    var offset: Int64
    var timestamp: Int64
    var timestampType: Int32
    var key: [UInt8]?
    var value: [UInt8]?
    var headers: [RecordedHeader]

    var placement: Placement { Placement(topic: topic, partition: partition, offset: offset) }
    var valueText: String? { value.map { String(decoding: $0, as: UTF8.self) } }
}

/// What the Recorder fixture wrote for `function`: one entry per invocation, each the events it got.
func recordedInvocations(_ function: String) throws -> [[RecordedEvent]] {
    let url = TestPaths.recordDirectory.appendingPathComponent("\(function).jsonl")
    guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
    // A line still being written (a big record) is not complete until its newline.
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    lines.removeLast()
    return try lines.filter { !$0.isEmpty }.map { line in
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let events = object["events"] as? [[String: Any]] else {
            throw TestSetupError("unreadable record line: \(line)")
        }
        return events.map { event in
            RecordedEvent(
                topic: event["topic"] as! String,
                partition: Int32(event["partition"] as! Int),
                offset: Int64(event["offset"] as! Int),
                timestamp: Int64(event["timestamp"] as! Int),
                timestampType: Int32(event["timestampType"] as! Int),
                key: unhex(event["key"]),
                value: unhex(event["value"]),
                headers: (event["headers"] as? [[Any]] ?? []).map { RecordedHeader(name: $0[0] as! String, value: unhex($0[1])) })
        }
    }
}

func recordedEvents(_ function: String) throws -> [RecordedEvent] {
    try recordedInvocations(function).flatMap { $0 }
}
