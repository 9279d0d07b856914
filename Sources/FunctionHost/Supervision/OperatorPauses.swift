import Foundation
import Synchronization

/// The functions an operator paused on this host (`POST /admin/functions/NAME/pause`), kept in
/// the supervisor's state directory (`operator-pauses.json`) so that a worker that replaces
/// this one — a `--watch` reload, a restart after a crash — starts them paused too. A pause is
/// per host: it holds this host's consumer (its partitions stay assigned, paused), not the other
/// replicas of the group. It lasts until resumed or until `swiftfunc start` runs again (the
/// supervisor forgets it at start: ``reset(in:)``).
public final class OperatorPauses: Sendable {
    static let fileName = "operator-pauses.json"

    private let file: URL
    /// Writers in this process one at a time (the file is replaced whole).
    private let writing = Mutex<Void>(())

    init(stateDirectory: URL) {
        file = stateDirectory.appendingPathComponent(Self.fileName)
    }

    /// The paused functions' names.
    var names: Set<String> {
        guard let data = try? Data(contentsOf: file),
              let names = try? JSONSerialization.jsonObject(with: data) as? [String] else { return [] }
        return Set(names)
    }

    /// Records that `function` is paused (or no longer).
    func record(_ function: String, paused: Bool) {
        writing.withLock { _ in
            var names = names
            if paused { names.insert(function) } else { names.remove(function) }
            if let data = try? JSONSerialization.data(withJSONObject: names.sorted()) {
                try? data.write(to: file, options: .atomic)
            }
        }
    }

    /// Forgets every pause (a new `swiftfunc start`: every function starts running).
    public static func reset(in stateDirectory: URL) {
        try? FileManager.default.removeItem(at: stateDirectory.appendingPathComponent(fileName))
    }
}
