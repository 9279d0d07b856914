// Tencent COS's "CKafka message backup" job as a function: it aggregates the records of its topic
// into files under a destination prefix, one file per topic, partition and time window, and lets
// the host commit their offsets only once the files are on disk.
//
//   BACKUP_DIRECTORY       where the files go (required), e.g. /var/backups/kafka
//   BACKUP_PREFIX          the destination prefix inside it (default "ckafka-backup")
//   BACKUP_WINDOW_SECONDS  the length of a time window (default 300: 5 minutes)
//
// A record goes to BACKUP_DIRECTORY/BACKUP_PREFIX/TOPIC/PARTITION/WINDOWSTART.log (WINDOWSTART:
// seconds since the epoch, by the record's timestamp), one line per record: its value, then "\n".
// The entry point writes and returns SF_PENDING; run_flush, which the host calls every
// flushIntervalSeconds, before partitions are revoked and at shutdown, fsyncs every open file
// and closes the windows that have ended, then returns SF_OK: the host commits after that.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SwiftFunctions

@_cdecl("run")
public func run(_ events: Event, _ count: Int, _ context: Context) -> Status {
    context.run { () throws -> Completion in
        try backup.withLock { files in
            let settings = try BackupSettings.fromEnvironment()
            for event in Batch(events, count) { try files.append(event, settings: settings) }
        }
        return .pending
    }
}

@_cdecl("swiftfunc_signature_run")
public func runSignature() -> Signature { .of(run) }

@_cdecl("run_flush")
public func runFlush(_ context: Context) -> Status {
    context.run {
        let synced = try backup.withLock { try $0.flush(nowMilliseconds: wallClockMilliseconds()) }
        context.logger.debug("backup flushed \(synced) file(s)")
    }
}

/// The open files, shared by every function that loads this library (one lock: the host calls a
/// function's entry point and flush on that function's thread, but two functions may share it).
private let backup = Mutex(BackupFiles())

struct BackupSettings {
    var directory: String
    var prefix: String
    var windowMilliseconds: Int64

    static func fromEnvironment() throws -> BackupSettings {
        guard let directory = environment("BACKUP_DIRECTORY"), !directory.isEmpty else {
            throw BackupError("BACKUP_DIRECTORY is not set: set it to the folder the backup files go to")
        }
        let window = environment("BACKUP_WINDOW_SECONDS").map { Int64($0) } ?? 300
        guard let window, window > 0 else { throw BackupError("BACKUP_WINDOW_SECONDS must be a whole number of seconds above 0") }
        return BackupSettings(directory: directory, prefix: environment("BACKUP_PREFIX") ?? "ckafka-backup",
                              windowMilliseconds: window * 1000)
    }
}

struct BackupFiles {
    private struct Key: Hashable {
        var topic: String
        var partition: Int32
        var windowStart: Int64
    }
    private var open: [Key: (descriptor: Int32, windowEnd: Int64)] = [:]

    mutating func append(_ event: Event, settings: BackupSettings) throws {
        let timestamp = event.timestamp ?? wallClockMilliseconds()
        let windowStart = timestamp - timestamp % settings.windowMilliseconds
        let key = Key(topic: event.topic, partition: event.partition, windowStart: windowStart)
        let descriptor = try open[key]?.descriptor ?? openFile(key, settings: settings)
        open[key] = (descriptor, windowStart + settings.windowMilliseconds)
        if let value = event.value { try value.withUnsafeBytes { try writeAll(descriptor, $0) } }
        try writeAll(descriptor, UnsafeRawBufferPointer(start: newline, count: 1))
    }

    /// Syncs every open file to disk and closes those whose window has ended.
    /// - Returns: how many files were synced.
    mutating func flush(nowMilliseconds: Int64) throws -> Int {
        var synced = 0
        for (key, file) in open {
            guard fsync(file.descriptor) == 0 else { throw BackupError("fsync of \(key.topic)/\(key.partition): \(errorText())") }
            synced += 1
            if file.windowEnd <= nowMilliseconds {
                close(file.descriptor)
                open[key] = nil
            }
        }
        return synced
    }

    private func openFile(_ key: Key, settings: BackupSettings) throws -> Int32 {
        let folder = "\(settings.directory)/\(settings.prefix)/\(key.topic)/\(key.partition)"
        try makeDirectories(folder)
        let path = "\(folder)/\(key.windowStart / 1000).log"
        let descriptor = Glibc.open(path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw BackupError("cannot open \(path): \(errorText())") }
        return descriptor
    }
}

struct BackupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

nonisolated(unsafe) private let newline: UnsafeMutableRawPointer = {
    let byte = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
    byte.storeBytes(of: UInt8(ascii: "\n"), as: UInt8.self)
    return byte
}()

private func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) throws {
    var written = 0
    while written < bytes.count {
        let result = write(descriptor, bytes.baseAddress! + written, bytes.count - written)
        if result < 0 {
            if errno == EINTR { continue }
            throw BackupError("write failed: \(errorText())")
        }
        written += result
    }
}

private func makeDirectories(_ path: String) throws {
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        current += "/" + component
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw BackupError("cannot create \(current): \(errorText())")
        }
    }
}

private func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
private func errorText() -> String { String(cString: strerror(errno)) }

private func wallClockMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}
