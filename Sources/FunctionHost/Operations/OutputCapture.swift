import FunctionABI
import Synchronization

/// A record a function sent during an operator's invocation, as it sent it.
public struct CapturedRecord: Sendable, Equatable {
    public var topic: String
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [CapturedHeader]
    /// The partition the function asked for (-1: the partitioner's choice).
    public var partition: Int32
}

public struct CapturedHeader: Sendable, Equatable {
    public var name: String
    public var value: [UInt8]?
}

/// Keeps a copy of every record the output handles of one operator's invocation send.
final class OutputCapture: Sendable {
    private let storage = Mutex<[CapturedRecord]>([])

    var records: [CapturedRecord] { storage.withLock { $0 } }

    func record(_ message: sf_message, topic: String) {
        var headers: [CapturedHeader] = []
        if let raw = message.headers {
            for index in 0..<message.header_count {
                let header = raw[index]
                let name = header.name.map { String(decoding: UnsafeRawBufferPointer(start: UnsafeRawPointer($0), count: header.name_length), as: UTF8.self) } ?? ""
                headers.append(CapturedHeader(name: name, value: bytes(header.value, header.value_length)))
            }
        }
        let record = CapturedRecord(topic: topic, key: bytes(message.key, message.key_length),
                                    value: bytes(message.value, message.value_length), headers: headers,
                                    partition: message.partition)
        storage.withLock { $0.append(record) }
    }

    private func bytes(_ pointer: UnsafeRawPointer?, _ length: Int) -> [UInt8]? {
        guard let pointer else { return nil }
        return Array(UnsafeRawBufferPointer(start: pointer, count: length))
    }
}
