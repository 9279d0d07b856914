import Foundation

/// How many times each message of a function has crashed (or timed out) the host, kept in
/// `crashes-FUNCTION.json` in the state directory. The supervisor adds to it after a worker
/// died; the worker reads it at start, isolates messages that crashed before, dead-letters those
/// that reached the limit, and forgets a message once it is settled. The file names the consumer
/// group and topic its offsets are about; counts about anything else are not applied (a function
/// pointed at another topic starts with none).
struct CrashRecords: Sendable {
    struct Key: Hashable, Sendable {
        var partition: Int32
        var offset: Int64
    }

    private(set) var counts: [Key: Int] = [:]
    let url: URL
    /// ``SettlementJournal/Subject/text`` of the consumer group and topic the offsets are about.
    let subject: String

    init(directory: URL, function: String, subject: String) {
        url = directory.appendingPathComponent("crashes-\(function).json")
        self.subject = subject
        guard let data = try? Data(contentsOf: url),
              let file = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              file["subject"] as? String == subject,
              let object = file["counts"] as? [String: Int] else { return }
        for (key, count) in object {
            let parts = key.split(separator: ":")
            if parts.count == 2, let partition = Int32(parts[0]), let offset = Int64(parts[1]) {
                counts[Key(partition: partition, offset: offset)] = count
            }
        }
    }

    var isEmpty: Bool { counts.isEmpty }

    func count(partition: Int32, offset: Int64) -> Int {
        counts[Key(partition: partition, offset: offset)] ?? 0
    }

    /// Adds one crash to every offset of `ranges`; returns the highest count among them.
    @discardableResult
    mutating func recordCrash(_ ranges: [InvocationJournal.Range]) -> Int {
        var highest = 0
        for range in ranges where range.last >= range.first && range.last - range.first < 100_000 {
            for offset in range.first...range.last {
                let key = Key(partition: range.partition, offset: offset)
                counts[key, default: 0] += 1
                highest = max(highest, counts[key]!)
            }
        }
        return highest
    }

    /// Forgets a message (it succeeded or was dead-lettered).
    mutating func forget(partition: Int32, offset: Int64) -> Bool {
        counts.removeValue(forKey: Key(partition: partition, offset: offset)) != nil
    }

    func save() throws {
        let object = Dictionary(uniqueKeysWithValues: counts.map { ("\($0.key.partition):\($0.key.offset)", $0.value) })
        try JSONSerialization.data(withJSONObject: ["subject": subject, "counts": object] as [String: Any], options: [.sortedKeys])
            .write(to: url, options: .atomic)
    }
}
