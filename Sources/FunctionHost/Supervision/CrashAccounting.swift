import Foundation

/// What the supervisor learns from the journals a dead worker left behind.
public enum CrashAccounting {
    public struct InFlight: Sendable, CustomStringConvertible {
        public var function: String
        public var ranges: [InvocationJournal.Range]
        public var timedOut: Bool
        /// The highest crash count among the in-flight messages, after this crash.
        public var crashes: Int

        public var description: String {
            let where_ = ranges.map { $0.first == $0.last ? "partition \($0.partition) offset \($0.first)" : "partition \($0.partition) offsets \($0.first)-\($0.last)" }
                .joined(separator: ", ")
            return "'\(function)' \(timedOut ? "ran past functionTimeout" : "was invoking") \(where_)"
        }
    }

    /// Adds one crash to every message that was in flight in `directory`'s journals.
    public static func recordCrash(in directory: URL) -> [InFlight] {
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
        var result: [InFlight] = []
        for file in files where file.lastPathComponent.hasPrefix("inflight-") && file.pathExtension == "journal" {
            guard let journal = InvocationJournal.read(file), journal.state != .idle, !journal.ranges.isEmpty else { continue }
            let function = InvocationJournal.function(ofJournal: file)
            var records = CrashRecords(directory: directory, function: function, subject: journal.subject)
            let crashes = records.recordCrash(journal.ranges)
            try? records.save()
            result.append(InFlight(function: function, ranges: journal.ranges, timedOut: journal.state == .timedOut, crashes: crashes))
        }
        return result
    }
}
