import Foundation

/// How often the supervisor restarted its worker, and per function how many of those crashes
/// had its messages in flight: `restarts.json` in the state directory. The supervisor writes it
/// before each restart; the next worker reads it for its metrics (a worker's own counters start
/// at zero).
public struct RestartRecord: Sendable, Codable, Equatable {
    public var restarts = 0
    public var crashes: [String: Int] = [:]

    public init() {}

    static func file(in directory: URL) -> URL { directory.appendingPathComponent("restarts.json") }

    /// Reads the record; an empty one when there is none.
    public static func read(in directory: URL?) -> RestartRecord {
        guard let directory, let data = try? Data(contentsOf: file(in: directory)),
              let record = try? JSONDecoder().decode(RestartRecord.self, from: data) else { return RestartRecord() }
        return record
    }

    /// Starts counting afresh (a new `swiftfunc start`).
    public static func reset(in directory: URL) {
        try? FileManager.default.removeItem(at: file(in: directory))
    }

    /// Adds one restart, and one crash to each function in `crashedFunctions`.
    public static func recordRestart(in directory: URL, crashedFunctions: [String]) {
        var record = read(in: directory)
        record.restarts += 1
        for function in Set(crashedFunctions) { record.crashes[function, default: 0] += 1 }
        if let data = try? JSONEncoder().encode(record) { try? data.write(to: file(in: directory), options: .atomic) }
    }
}
