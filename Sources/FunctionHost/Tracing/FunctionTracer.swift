import Foundation
import Logging
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// One function's tracer: swift-otel's (its sampler, W3C propagator, batch span processor and
/// OTLP/HTTP protobuf exporter, from `OTel.makeTracingBackend`), with the function's name as a
/// resource attribute. Its export runs as a task of its own; ``shutdown()`` sends what is left.
///
/// Not `OTel.bootstrap`: that sets the process-wide `InstrumentationSystem` once, while the host
/// gives every function a tracer of its own (its name is on the resource, not on each span) and
/// starts and stops them with the functions.
final class FunctionTracer: Sendable {
    let functionName: String
    let tracer: any Tracer
    /// Records whose `traceparent` was not a valid W3C value (ignored; their invocation started
    /// a new trace), for `swiftfunc_trace_context_malformed_total`.
    let malformedTraceContexts = Atomic<Int>(0)
    /// Which invocations record a span (decided before swift-otel is asked: ``SpanSampling``).
    let sampling: SpanSampling
    private let group: ServiceGroup
    private let executor: ThreadTaskExecutor
    private let exporting: Mutex<Task<Void, Never>?> = Mutex(nil)

    /// - Parameter executor: where the export runs (a thread of its own: never waiting for
    ///   Swift's cooperative pool, which a test process's synchronous waits may fill).
    init(functionName: String, settings: TracingSettings, hostID: String, executor: ThreadTaskExecutor, logger: Logger) throws {
        self.functionName = functionName
        self.executor = executor
        var configuration = OTel.Configuration.default
        configuration.serviceName = settings.serviceName
        configuration.resourceAttributes = ["faas.name": functionName, "service.instance.id": hostID]
        configuration.diagnosticLogger = .custom(logger)
        configuration.propagators = [.traceContext]
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.traces.otlpExporter.endpoint = settings.tracesEndpoint
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.traces.batchSpanProcessor.scheduleDelay = settings.exportDelay
        // The sampler's decision is the host's (SpanSampling): swift-otel sees only invocations
        // to record.
        sampling = SpanSampling(sampler: settings.sampler, maxSpansPerSecond: settings.maxSpansPerSecond)
        configuration.traces.sampler = .alwaysOn
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        tracer = backend.factory
        var quiet = logger
        quiet.logLevel = .warning
        group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [backend.service], logger: quiet))
        let group = group
        exporting.withLock { $0 = Task.detached(executorPreference: executor) { try? await group.run() } }
    }

    /// Ends the export: spans ended so far are sent (waiting up to `timeout`).
    func shutdown(timeout: Duration = .seconds(5)) {
        guard let task = exporting.withLock({ current in defer { current = nil }; return current }) else { return }
        let group = group
        let done = DispatchSemaphore(value: 0)
        Task.detached(executorPreference: executor) {
            await group.triggerGracefulShutdown()
            await task.value
            done.signal()
        }
        _ = done.wait(timeout: .now() + .nanoseconds(Int(timeout.components.seconds) * 1_000_000_000))
    }
}

/// The worker's tracing: off (nil from ``make(_:environment:stateDirectory:logger:)``), or one
/// ``FunctionTracer`` per function, made when the function loads and kept across its reloads.
///
/// The export runs on a thread of its own, but swift-otel's batch processor sends on a timer
/// (`Task.sleep`), whose wake-up takes a thread of Swift's cooperative pool: the worker leaves
/// that pool free (blocking work runs on threads of its own). A stop sends what is left without
/// the timer. (Not `Tracer.forceFlush()` on a timer of ours: swift-otel 1.6's flush exports its
/// buffer without emptying it, so every flush would send the same spans again.)
final class HostTracing: Sendable {
    let settings: TracingSettings
    private let hostID: String
    private let logger: Logger
    private let tracers = Mutex<[String: FunctionTracer]>([:])
    private let executor = ThreadTaskExecutor(name: "swiftfunc-tracing", threads: 1)

    /// - Throws: ``ConfigurationError`` for settings the host cannot honour (naming the variable).
    static func make(_ configuration: TracingConfiguration, environment: [String: String], stateDirectory: URL?,
                     logger: Logger) throws -> HostTracing? {
        guard let settings = try configuration.resolve(environment: environment) else { return nil }
        return HostTracing(settings: settings, hostID: TransactionalOutputs.instanceID(stateDirectory: stateDirectory), logger: logger)
    }

    private init(settings: TracingSettings, hostID: String, logger: Logger) {
        self.settings = settings
        self.hostID = hostID
        self.logger = logger
    }

    /// `function`'s tracer (the same one after a reload of the function).
    func tracer(for function: String) throws -> FunctionTracer {
        try tracers.withLock { tracers in
            if let tracer = tracers[function] { return tracer }
            let tracer = try FunctionTracer(functionName: function, settings: settings, hostID: hostID, executor: executor, logger: logger)
            tracers[function] = tracer
            return tracer
        }
    }

    /// The tracer of `function` when it was made (for the metrics).
    func existingTracer(for function: String) -> FunctionTracer? {
        tracers.withLock { $0[function] }
    }

    /// Sends every span ended so far and stops exporting (at the worker's stop).
    func shutdown() {
        for tracer in tracers.withLock({ Array($0.values) }) { tracer.shutdown() }
        executor.shutdown()
    }
}
