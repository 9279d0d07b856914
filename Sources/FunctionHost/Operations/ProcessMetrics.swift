import Foundation
import Glibc

/// This process's resources, read from `/proc/self` at each scrape, under the names every
/// Prometheus client library uses (`process_resident_memory_bytes`, `process_cpu_seconds_total`,
/// ...), so the dashboards and alerts written for those work unchanged.
///
/// Written here because neither package the host uses has them: swift-metrics 2.13 no longer
/// ships `SystemMetrics` (it moved to swift-metrics-extras, which the package set here does not
/// hold) and swift-prometheus 2.4.1 has no process collector. It reads what those read, the same
/// way (`/proc/self/stat`, `/proc/self/fd`, `RLIMIT_NOFILE`, `/proc/stat`'s `btime`).
struct ProcessMetrics: Sendable {
    var residentMemoryBytes: Double
    var virtualMemoryBytes: Double
    var cpuSeconds: Double
    var openFileDescriptors: Double
    var maxFileDescriptors: Double
    /// Seconds since the epoch.
    var startTimeSeconds: Double

    /// Reads them now; nil when `/proc/self/stat` cannot be read (not Linux).
    static func read() -> ProcessMetrics? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after "(comm)" start at field 3 (state); the command name may hold spaces.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        func field(_ number: Int) -> Double { fields.count > number - 3 ? Double(fields[number - 3]) ?? 0 : 0 }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let openFiles = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count).map { Double($0) } ?? 0
        return ProcessMetrics(
            residentMemoryBytes: field(24) * pageSize,
            virtualMemoryBytes: field(23),
            cpuSeconds: (field(14) + field(15)) / ticks,
            openFileDescriptors: openFiles,
            maxFileDescriptors: limit.rlim_cur == rlim_t.max ? Double(Int64.max) : Double(limit.rlim_cur),
            startTimeSeconds: bootTimeSeconds + field(22) / ticks)
    }

    /// When the machine booted (`btime` in `/proc/stat`), which process start times count from.
    private static let bootTimeSeconds: Double = {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }) else { return 0 }
        return Double(line.dropFirst("btime ".count).trimmingCharacters(in: .whitespaces)) ?? 0
    }()
}
