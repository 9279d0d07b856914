import Foundation

/// host.json `swiftfunc.tracing`, and what the OpenTelemetry environment variables make of it
/// (``resolve(environment:)``): whether this worker traces invocations, where it exports them,
/// and how it samples. The variables win over host.json, as in every OpenTelemetry SDK.
public struct TracingConfiguration: Sendable, Equatable {
    /// `swiftfunc.tracing.enabled`: true traces (to `endpoint`, else the OTLP default
    /// http://localhost:4318); false never traces, whatever the environment says; unset traces
    /// when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set.
    public var enabled: Bool?
    /// `swiftfunc.tracing.endpoint`: the collector's OTLP/HTTP base URL (`/v1/traces` is added).
    public var endpoint: String?
    /// `swiftfunc.tracing.samplerRatio` (0 to 1): parent-based ratio sampling; unset: every
    /// trace a producer did not decide against.
    public var samplerRatio: Double?
    /// `swiftfunc.tracing.serviceName`: the `service.name` resource attribute (default swiftfunc).
    public var serviceName: String?
    /// `swiftfunc.tracing.maxSpansPerSecond` (0 to 1,000,000; 0: no ceiling; default 1000): the
    /// most invocation spans one function records per second; past it an invocation is not
    /// recorded (counted), its trace context still handed on.
    public var maxSpansPerSecond: Int?

    public init() {}

    static let fields = KnownFields(used: ["enabled", "endpoint", "samplerRatio", "serviceName", "maxSpansPerSecond"])

    static func parse(_ json: JSONObject) throws -> TracingConfiguration {
        var configuration = TracingConfiguration()
        guard let tracing = try json.object("swiftfunc")?.object("tracing") else { return configuration }
        configuration.enabled = try tracing.bool("enabled")
        if let endpoint = try tracing.string("endpoint") {
            guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
                throw tracing.error("endpoint", "'\(endpoint)' is not an http(s) URL; write the collector's OTLP/HTTP address, e.g. \"http://localhost:4318\"")
            }
            configuration.endpoint = endpoint
        }
        if let value = tracing.raw("samplerRatio") {
            guard let ratio = (value as? NSNumber)?.doubleValue ?? (value as? String).flatMap(Double.init), (0...1).contains(ratio),
                  !(value is Bool) else {
                throw tracing.error("samplerRatio", "must be a number from 0 to 1 (the share of new traces sampled), not \(value)")
            }
            configuration.samplerRatio = ratio
        }
        configuration.serviceName = try tracing.string("serviceName")
        configuration.maxSpansPerSecond = try tracing.int("maxSpansPerSecond", in: 0...1_000_000, unit: "spans per second")
        return configuration
    }

    /// What this worker does, host.json under `environment`'s OpenTelemetry variables; nil: it
    /// does not trace.
    /// - Throws: ``ConfigurationError`` naming the variable (file "environment") or the host.json
    ///   field, and the fix, for a protocol, sampler or ratio the host cannot honour.
    func resolve(environment: [String: String]) throws -> TracingSettings? {
        func variable(_ name: String) -> String? {
            guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }
        func refuse(_ name: String, _ message: String) -> ConfigurationError {
            ConfigurationError(file: "environment", field: name, message)
        }
        if variable("OTEL_SDK_DISABLED")?.lowercased() == "true" || enabled == false { return nil }
        if let exporter = variable("OTEL_TRACES_EXPORTER")?.lowercased() {
            if exporter == "none" { return nil }
            guard exporter == "otlp" else {
                throw refuse("OTEL_TRACES_EXPORTER", "'\(exporter)' is not supported; swiftfunc exports traces with OTLP only: set it to otlp (or none, or unset it)")
            }
        }
        let tracesEndpoint = variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        let sharedEndpoint = variable("OTEL_EXPORTER_OTLP_ENDPOINT")
        guard enabled == true || tracesEndpoint != nil || sharedEndpoint != nil else { return nil }
        for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
            if let value = variable(name), value != "http/protobuf" {
                throw refuse(name, "'\(value)' is not supported; swiftfunc exports OTLP over HTTP with protobuf only (its build leaves out gRPC and JSON): set it to http/protobuf, or unset it")
            }
        }
        var settings = TracingSettings()
        // The signal's own variable is the whole URL; the shared one and host.json are a base.
        if let tracesEndpoint {
            settings.tracesEndpoint = tracesEndpoint
        } else if let base = sharedEndpoint ?? endpoint {
            settings.tracesEndpoint = base.hasSuffix("/") ? base + "v1/traces" : base + "/v1/traces"
        }
        settings.serviceName = variable("OTEL_SERVICE_NAME") ?? serviceName ?? settings.serviceName
        if let maxSpansPerSecond { settings.maxSpansPerSecond = maxSpansPerSecond }
        if let samplerRatio { settings.sampler = .parentBasedTraceIDRatio(samplerRatio) }
        if let name = variable("OTEL_TRACES_SAMPLER")?.lowercased() {
            let argument = variable("OTEL_TRACES_SAMPLER_ARG")
            func ratio() throws -> Double {
                guard let argument else { return 1 }
                guard let ratio = Double(argument), (0...1).contains(ratio) else {
                    throw refuse("OTEL_TRACES_SAMPLER_ARG", "'\(argument)' is not a sampling ratio; write a number from 0 to 1 (0.01: one trace in a hundred)")
                }
                return ratio
            }
            switch name {
            case "always_on": settings.sampler = .alwaysOn
            case "always_off": settings.sampler = .alwaysOff
            case "traceidratio": settings.sampler = .traceIDRatio(try ratio())
            case "parentbased_always_on": settings.sampler = .parentBasedAlwaysOn
            case "parentbased_always_off": settings.sampler = .parentBasedAlwaysOff
            case "parentbased_traceidratio": settings.sampler = .parentBasedTraceIDRatio(try ratio())
            default:
                throw refuse("OTEL_TRACES_SAMPLER", "'\(name)' is not supported; use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio (with OTEL_TRACES_SAMPLER_ARG the ratio)")
            }
        }
        if let delay = variable("OTEL_BSP_SCHEDULE_DELAY") {
            guard let milliseconds = Int(delay), milliseconds >= 0 else {
                throw refuse("OTEL_BSP_SCHEDULE_DELAY", "'\(delay)' is not a delay; write the milliseconds between exports (default 5000)")
            }
            settings.exportDelay = .milliseconds(milliseconds)
        }
        return settings
    }
}

/// Where and how a tracing worker exports: resolved from ``TracingConfiguration`` and the environment.
struct TracingSettings: Sendable, Equatable {
    enum Sampler: Sendable, Equatable {
        case alwaysOn, alwaysOff, parentBasedAlwaysOn, parentBasedAlwaysOff
        case traceIDRatio(Double)
        case parentBasedTraceIDRatio(Double)
    }

    /// The OTLP/HTTP traces URL (OpenTelemetry's default collector address).
    var tracesEndpoint = "http://localhost:4318/v1/traces"
    var serviceName = "swiftfunc"
    /// OpenTelemetry's default: follow the producer's decision, sample new traces.
    var sampler = Sampler.parentBasedAlwaysOn
    /// How long finished spans wait to be sent in a batch (`OTEL_BSP_SCHEDULE_DELAY`).
    var exportDelay: Duration = .seconds(5)
    /// Recorded spans per function and second at most (0: no ceiling): well within what one
    /// export thread sends (tens of thousands a second here), so memory stays bounded.
    var maxSpansPerSecond = 1000
}
