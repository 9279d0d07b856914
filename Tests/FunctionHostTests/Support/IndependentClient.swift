import Foundation

/// A record for the independent client (Python confluent-kafka) to produce.
struct OutgoingMessage {
    var topic: String
    var key: [UInt8]?
    var value: [UInt8]?
    var headers: [(String, [UInt8]?)]? = nil
    var partition: Int32? = nil
    var timestamp: Int64? = nil

    init(topic: String, key: [UInt8]? = nil, value: [UInt8]?, headers: [(String, [UInt8]?)]? = nil,
         partition: Int32? = nil, timestamp: Int64? = nil) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.partition = partition
        self.timestamp = timestamp
    }

    init(topic: String, key: String? = nil, value: String, partition: Int32? = nil) {
        self.init(topic: topic, key: key.map { Array($0.utf8) }, value: Array(value.utf8), partition: partition)
    }
}

struct Placement: Hashable {
    var topic: String
    var partition: Int32
    var offset: Int64
}

struct ConsumedMessage {
    var placement: Placement
    var key: [UInt8]?
    var value: [UInt8]?
    var headers: [RecordedHeader]
}

/// Kafka seen from outside the host: a separate process with another client library, over TCP.
enum IndependentClient {
    static func produce(broker: String, _ messages: [OutgoingMessage]) throws -> [Placement] {
        let request: [String: Any] = [
            "broker": broker,
            "messages": messages.map { message -> [String: Any] in
                var entry: [String: Any] = ["topic": message.topic, "value_hex": hex(message.value), "key_hex": hex(message.key)]
                if let headers = message.headers { entry["headers"] = headers.map { [$0.0, hex($0.1)] } }
                if let partition = message.partition { entry["partition"] = partition }
                if let timestamp = message.timestamp { entry["timestamp"] = timestamp }
                return entry
            },
        ]
        let answer = try call("produce", request) as? [[String: Any]] ?? []
        return answer.map { Placement(topic: $0["topic"] as! String, partition: Int32($0["partition"] as! Int), offset: Int64($0["offset"] as! Int)) }
    }

    /// The group's committed offset per partition (-1001 when none).
    static func committed(broker: String, group: String, topic: String, partitions: Int) throws -> [Int32: Int64] {
        let answer = try call("committed", ["broker": broker, "group": group, "topic": topic, "partitions": partitions]) as? [String: Int] ?? [:]
        var result: [Int32: Int64] = [:]
        for (partition, offset) in answer { result[Int32(partition)!] = Int64(offset) }
        return result
    }

    static func consume(broker: String, topic: String, partitions: Int, count: Int, timeout: Double = 20) throws -> [ConsumedMessage] {
        let answer = try call("consume", ["broker": broker, "topic": topic, "partitions": partitions, "count": count, "timeout": timeout]) as? [[String: Any]] ?? []
        return answer.map { entry in
            ConsumedMessage(
                placement: Placement(topic: entry["topic"] as! String, partition: Int32(entry["partition"] as! Int), offset: Int64(entry["offset"] as! Int)),
                key: unhex(entry["key_hex"]), value: unhex(entry["value_hex"]),
                headers: (entry["headers"] as? [[Any]] ?? []).map { RecordedHeader(name: $0[0] as! String, value: unhex($0[1])) })
        }
    }

    private static func call(_ command: String, _ request: [String: Any]) throws -> Any {
        let input = try JSONSerialization.data(withJSONObject: request)
        let output = try runProcess(URL(fileURLWithPath: "/usr/bin/python3"), [TestPaths.kafkaClient.path, command], input: input)
        return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8))
    }
}

func hex(_ bytes: [UInt8]?) -> Any {
    guard let bytes else { return NSNull() }
    return bytes.map { String(format: "%02x", $0) }.joined()
}

func unhex(_ value: Any?) -> [UInt8]? {
    guard let text = value as? String else { return nil }
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}
