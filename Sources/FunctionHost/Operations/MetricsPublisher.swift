import CRdKafka
import CoreMetrics
import Foundation
import Metrics
import Prometheus
import Synchronization

/// Publishes what the host counted into swift-metrics objects backed by a Prometheus registry
/// of its own, when `/metrics` is scraped. The hot path only bumps thread-owned counters
/// (``CounterSlots``); here their totals become counter increments, gauge values and histogram
/// observations (each bucket's new observations are recorded at their mean, so bucket counts,
/// count and sum come out as the host measured them).
final class MetricsPublisher: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let host: FunctionAppHost
    private let startedAt = monotonicNanoseconds()
    private let restarts: RestartRecord
    private let lock = Mutex<Void>(())

    // Only touched under `lock`.
    private var counters: [String: (counter: CoreMetrics.Counter, published: Int)] = [:]
    private var gauges: [String: CoreMetrics.Gauge] = [:]
    private var histogramsPublished: [String: [(count: Int, sum: Int)]] = [:]
    private var timers: [String: CoreMetrics.Timer] = [:]
    private var recorders: [String: CoreMetrics.Recorder] = [:]
    private var lagKeys = Set<String>()

    init(host: FunctionAppHost, restarts: RestartRecord) {
        self.host = host
        self.restarts = restarts
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["swiftfunc_invocation_duration_seconds"] =
            BucketLayout.durationNanoseconds.bounds.map { .nanoseconds($0) }
        factory.valueHistogramBuckets["swiftfunc_batch_size"] = BucketLayout.batchSize.bounds.map(Double.init)
        self.factory = factory
    }

    /// Publishes the current totals and renders the Prometheus text format.
    func scrape() -> String {
        lock.withLock { _ in publish() }
        return registry.emitToString()
    }

    private func publish() {
        gauge("swiftfunc_build_info", [("librdkafka", String(cString: rd_kafka_version_str())), ("swift", swiftVersion)], 1)
        gauge("swiftfunc_uptime_seconds", [], Double(monotonicNanoseconds() - startedAt) / 1e9)
        counter("swiftfunc_worker_restarts_total", [], restarts.restarts)
        var currentLag = Set<String>()
        for hosted in host.hostedFunctions {
            let name = hosted.report.name
            let function = [("function", name)]
            guard let listener = hosted.listener else { continue }
            let statistics = listener.invocationStatistics
            for outcome in InvocationStatistics.Outcome.allCases {
                counter("swiftfunc_invocations_total", function + [("outcome", outcome.label)],
                        statistics.reduce(0) { $0 + $1.slots.value(outcome.rawValue) })
            }
            counter("swiftfunc_retries_total", function, statistics.reduce(0) { $0 + $1.slots.value(InvocationStatistics.retriesSlot) })
            histogram("swiftfunc_invocation_duration_seconds", function, statistics, base: InvocationStatistics.durationBase,
                      layout: .durationNanoseconds) { timer, value in (timer as! CoreMetrics.Timer).recordNanoseconds(Int64(value)) }
            if listener.function.trigger.cardinality == .many {
                histogram("swiftfunc_batch_size", function, statistics, base: InvocationStatistics.batchBase,
                          layout: .batchSize) { recorder, value in (recorder as! CoreMetrics.Recorder).record(value) }
            }
            for (index, topic) in listener.function.outputs.map(\.topic).enumerated() {
                for (offset, result) in ["delivered", "failed"].enumerated() {
                    counter("swiftfunc_output_records_total", function + [("topic", topic), ("result", result)],
                            statistics.reduce(0) { $0 + $1.slots.value(InvocationStatistics.outputBase + 2 * index + offset) })
                }
            }
            for (index, reason) in DeadLetterReason.allCases.enumerated() {
                counter("swiftfunc_dead_lettered_total", function + [("reason", reason.rawValue)],
                        listener.deadLetters.statistics.slots.value(index))
            }
            counter("swiftfunc_crashes_total", function, restarts.crashes[name] ?? 0)
            counter("swiftfunc_messages_consumed_total", function, listener.operations.consumedCount)
            counter("swiftfunc_rebalances_total", function, listener.operations.rebalanceCount)
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
        for key in lagKeys.subtracting(currentLag) { gauges.removeValue(forKey: key)?.destroy() }
        lagKeys = currentLag
    }

    private func key(_ name: String, _ labels: [(String, String)]) -> String {
        name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }

    private func counter(_ name: String, _ labels: [(String, String)], _ total: Int) {
        let key = key(name, labels)
        let entry = counters[key] ?? (CoreMetrics.Counter(label: name, dimensions: labels, factory: factory), 0)
        if total > entry.published { entry.counter.increment(by: total - entry.published) }
        counters[key] = (entry.counter, max(total, entry.published))
    }

    @discardableResult
    private func gauge(_ name: String, _ labels: [(String, String)], _ value: Double) -> String {
        let key = key(name, labels)
        let gauge = gauges[key] ?? CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
        gauges[key] = gauge
        gauge.record(value)
        return key
    }

    /// Records each bucket's new observations at their mean (clamped into the bucket), summed
    /// over `statistics`.
    private func histogram(_ name: String, _ labels: [(String, String)], _ statistics: [InvocationStatistics], base: Int,
                           layout: BucketLayout, record: (AnyObject, Double) -> Void) {
        let key = key(name, labels)
        let sink: AnyObject
        if name == "swiftfunc_batch_size" {
            let recorder = recorders[key] ?? CoreMetrics.Recorder(label: name, dimensions: labels, aggregate: true, factory: factory)
            recorders[key] = recorder
            sink = recorder
        } else {
            let timer = timers[key] ?? CoreMetrics.Timer(label: name, dimensions: labels, factory: factory)
            timers[key] = timer
            sink = timer
        }
        var published = histogramsPublished[key] ?? Array(repeating: (0, 0), count: layout.bounds.count + 1)
        for bucket in 0...layout.bounds.count {
            // The count first: the owner writes the sum first, so the sum read covers it.
            let count = statistics.reduce(0) { $0 + $1.slots.value(base + 2 * bucket) }
            let sum = statistics.reduce(0) { $0 + $1.slots.value(base + 2 * bucket + 1) }
            let newCount = count - published[bucket].count
            guard newCount > 0 else { continue }
            let lower = bucket == 0 ? 0 : layout.bounds[bucket - 1] + 1
            let upper = bucket < layout.bounds.count ? layout.bounds[bucket] : Int.max
            let mean = min(max((sum - published[bucket].sum) / newCount, lower), upper)
            for _ in 0..<newCount { record(sink, Double(mean)) }
            published[bucket] = (count, published[bucket].sum + mean * newCount)
        }
        histogramsPublished[key] = published
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
