import Foundation
import Prometheus
import Synchronization

/// Publishes what the host counted into a Prometheus registry of its own (swift-prometheus),
/// when `/metrics` is scraped. The hot path only bumps thread-owned counters (``CounterSlots``);
/// here their totals become counter increments, gauge values and histogram observations (each
/// bucket's new observations are recorded at their mean, so bucket counts, count and sum come
/// out as the host measured them). Every family carries its `# HELP` from ``MetricFamilies``.
final class MetricsPublisher: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    private let host: FunctionAppHost
    private let startedAt = monotonicNanoseconds()
    private let restarts: RestartRecord
    private let lock = Mutex<Void>(())

    // Only touched under `lock`.
    /// `published`: the total already published from `source` (a listener; a function reloaded
    /// by `--watch` has a new one, whose totals start again from 0).
    private var counters: [String: (counter: Prometheus.Counter, published: Int, source: ObjectIdentifier?)] = [:]
    private var cpuCounter: (counter: Prometheus.Counter, published: Double)?
    private var gauges: [String: Prometheus.Gauge] = [:]
    private var histogramsPublished: [String: (buckets: [(count: Int, sum: Int)], source: ObjectIdentifier)] = [:]
    private var durations: [String: DurationHistogram] = [:]
    private var values: [String: ValueHistogram] = [:]
    private var lagKeys = Set<String>()

    /// A function's states, for `swiftfunc_function_state` (one series each, 1 for the current).
    static let functionStates = ["running", "draining", "paused", "disabled", "failed-to-load"]

    init(host: FunctionAppHost, restarts: RestartRecord) {
        self.host = host
        self.restarts = restarts
    }

    /// Publishes the current totals and renders the Prometheus text format.
    func scrape() -> String {
        lock.withLock { _ in publish() }
        return registry.emitToString()
    }

    private func publish() {
        gauge("swiftfunc_build_info", [("librdkafka", librdkafkaVersion), ("swift", swiftVersion), ("version", swiftfuncVersion)], 1)
        gauge("swiftfunc_uptime_seconds", [], Double(monotonicNanoseconds() - startedAt) / 1e9)
        counter("swiftfunc_worker_restarts_total", [], restarts.restarts)
        publishProcess()
        let clusters = host.healthMonitor?.clusterHealth ?? [:]
        var currentLag = Set<String>()
        for hosted in host.hostedFunctions {
            let name = hosted.report.name
            let function = [("function", name)]
            let state: String = switch hosted.report.status {
            case .failed: "failed-to-load"
            case .disabled: "disabled"
            case .running: hosted.listener?.operations.state.label ?? "failed-to-load"
            }
            gauge("swiftfunc_function_up", function, hosted.listener != nil ? 1 : 0)
            for candidate in Self.functionStates {
                gauge("swiftfunc_function_state", function + [("state", candidate)], candidate == state ? 1 : 0)
            }
            guard let listener = hosted.listener else { continue }
            if let health = clusters[name] {
                gauge("swiftfunc_cluster_reachable", function + [("cluster", listener.function.trigger.connection.brokerList)],
                      health.reachable ? 1 : 0)
            }
            let source = ObjectIdentifier(listener)
            let statistics = listener.invocationStatistics
            for outcome in InvocationStatistics.Outcome.allCases {
                counter("swiftfunc_invocations_total", function + [("outcome", outcome.label)],
                        statistics.reduce(0) { $0 + $1.slots.value(outcome.rawValue) }, from: source)
            }
            gauge("swiftfunc_invocations_in_flight", function,
                  Double(statistics.reduce(0) { $0 + $1.slots.value(InvocationStatistics.inFlightSlot) }))
            counter("swiftfunc_retries_total", function, statistics.reduce(0) { $0 + $1.slots.value(InvocationStatistics.retriesSlot) },
                    from: source)
            histogram("swiftfunc_invocation_duration_seconds", function, statistics, from: source, base: InvocationStatistics.durationBase,
                      layout: .durationNanoseconds)
            if listener.function.trigger.cardinality == .many {
                histogram("swiftfunc_batch_size", function, statistics, from: source, base: InvocationStatistics.batchBase, layout: .batchSize)
            }
            for (index, topic) in listener.function.outputs.map(\.topic).enumerated() {
                for (offset, result) in ["delivered", "failed"].enumerated() {
                    counter("swiftfunc_output_records_total", function + [("topic", topic), ("result", result)],
                            statistics.reduce(0) { $0 + $1.slots.value(InvocationStatistics.outputBase + 2 * index + offset) }, from: source)
                }
            }
            for reason in DeadLetterReason.allCases {
                counter("swiftfunc_dead_lettered_total", function + [("reason", reason.rawValue)],
                        listener.deadLetters.statistics.deadLettered(reason), from: source)
            }
            counter("swiftfunc_dead_letter_write_failures_total", function, listener.deadLetters.statistics.writeFailures, from: source)
            counter("swiftfunc_offset_commit_failures_total", function, listener.settlement.committer.failedCommits, from: source)
            counter("swiftfunc_crashes_total", function, restarts.crashes[name] ?? 0)
            counter("swiftfunc_messages_consumed_total", function, listener.operations.consumedCount, from: source)
            counter("swiftfunc_rebalances_total", function, listener.operations.rebalanceCount, from: source)
            counter("swiftfunc_messages_not_invoked_total", function + [("reason", "filtered")],
                    listener.admission.filteredCount.load(ordering: .relaxed), from: source)
            counter("swiftfunc_messages_not_invoked_total", function + [("reason", "before-start-from")],
                    listener.admission.skippedCount.load(ordering: .relaxed), from: source)
            if let tracer = listener.tracer {
                counter("swiftfunc_trace_context_malformed_total", function, tracer.malformedTraceContexts.load(ordering: .relaxed))
                counter("swiftfunc_trace_spans_over_limit_total", function, tracer.sampling.overLimit.load(ordering: .relaxed))
            }
            gauge("swiftfunc_paused_partitions", function, Double(listener.operations.pausedPartitionCount))
            if let membership = listener.operations.membership.withLock({ $0 }) {
                // One series per function: the protocol is a label, the generation or member epoch the value.
                gauge("swiftfunc_group_generation", function + [("protocol", membership.groupProtocol.rawValue)], Double(membership.generation))
            }
            for entry in ConsumerLag.read(listener) {
                let labels = function + [("topic", listener.function.trigger.topic), ("partition", "\(entry.partition)")]
                currentLag.insert(gauge("swiftfunc_consumer_lag", labels, Double(entry.lag)))
            }
        }
        // Partitions this host no longer owns are not reported as lagging here.
        for key in lagKeys.subtracting(currentLag) {
            if let gauge = gauges.removeValue(forKey: key) { registry.unregisterGauge(gauge) }
        }
        lagKeys = currentLag
    }

    /// This process's memory, CPU time and file descriptors (``ProcessMetrics``).
    private func publishProcess() {
        guard let process = ProcessMetrics.read() else { return }
        gauge("process_resident_memory_bytes", [], process.residentMemoryBytes)
        gauge("process_virtual_memory_bytes", [], process.virtualMemoryBytes)
        gauge("process_open_fds", [], process.openFileDescriptors)
        gauge("process_max_fds", [], process.maxFileDescriptors)
        gauge("process_start_time_seconds", [], process.startTimeSeconds)
        let name = "process_cpu_seconds_total"
        let cpu = cpuCounter ?? (registry.makeCounter(descriptor: Self.descriptor(name)), 0)
        if process.cpuSeconds > cpu.published { cpu.counter.increment(by: process.cpuSeconds - cpu.published) }
        cpuCounter = (cpu.counter, max(process.cpuSeconds, cpu.published))
    }

    private static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: MetricFamilies.helpText(name))
    }

    private func key(_ name: String, _ labels: [(String, String)]) -> String {
        name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }

    /// - Parameter source: the listener whose `total` it is (nil: a total of the host's).
    private func counter(_ name: String, _ labels: [(String, String)], _ total: Int, from source: ObjectIdentifier? = nil) {
        let key = key(name, labels)
        let entry = counters[key] ?? (registry.makeCounter(descriptor: Self.descriptor(name), labels: labels), 0, source)
        let published = entry.source == source ? entry.published : 0
        if total > published { entry.counter.increment(by: Int64(total - published)) }
        counters[key] = (entry.counter, max(total, published), source)
    }

    @discardableResult
    private func gauge(_ name: String, _ labels: [(String, String)], _ value: Double) -> String {
        let key = key(name, labels)
        let gauge = gauges[key] ?? registry.makeGauge(descriptor: Self.descriptor(name), labels: labels)
        gauges[key] = gauge
        gauge.set(to: value)
        return key
    }

    /// Records each bucket's new observations at their mean (clamped into the bucket), summed
    /// over `statistics`: durations (nanoseconds) into a duration histogram, other values into
    /// a value histogram, with the layout's bounds as buckets.
    private func histogram(_ name: String, _ labels: [(String, String)], _ statistics: [InvocationStatistics],
                           from source: ObjectIdentifier, base: Int, layout: BucketLayout) {
        let key = key(name, labels)
        let record: (Int) -> Void
        if layout.bounds == BucketLayout.durationNanoseconds.bounds {
            let histogram = durations[key] ?? registry.makeDurationHistogram(
                descriptor: Self.descriptor(name), labels: labels, buckets: layout.bounds.map { .nanoseconds($0) })
            durations[key] = histogram
            record = { histogram.recordNanoseconds(Int64($0)) }
        } else {
            let histogram = values[key] ?? registry.makeValueHistogram(
                descriptor: Self.descriptor(name), labels: labels, buckets: layout.bounds.map(Double.init))
            values[key] = histogram
            record = { histogram.record(Double($0)) }
        }
        let fresh = Array(repeating: (count: 0, sum: 0), count: layout.bounds.count + 1)
        var published = histogramsPublished[key].flatMap { $0.source == source ? $0.buckets : nil } ?? fresh
        for bucket in 0...layout.bounds.count {
            // The count first: the owner writes the sum first, so the sum read covers it.
            let count = statistics.reduce(0) { $0 + $1.slots.value(base + 2 * bucket) }
            let sum = statistics.reduce(0) { $0 + $1.slots.value(base + 2 * bucket + 1) }
            let newCount = count - published[bucket].count
            guard newCount > 0 else { continue }
            let lower = bucket == 0 ? 0 : layout.bounds[bucket - 1] + 1
            let upper = bucket < layout.bounds.count ? layout.bounds[bucket] : Int.max
            let mean = min(max((sum - published[bucket].sum) / newCount, lower), upper)
            for _ in 0..<newCount { record(mean) }
            published[bucket] = (count, published[bucket].sum + mean * newCount)
        }
        histogramsPublished[key] = (published, source)
    }
}

private let swiftVersion: String = {
    #if swift(>=6.3)
    "6.3"
    #elseif swift(>=6.2)
    "6.2"
    #else
    "6.0"
    #endif
}()
