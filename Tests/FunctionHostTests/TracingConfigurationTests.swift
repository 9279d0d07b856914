import Foundation
import Synchronization
import Testing
@testable import FunctionHost

/// host.json `swiftfunc.tracing` under the OpenTelemetry environment variables, and the W3C
/// `traceparent` check, without a broker.
@Suite("Tracing configuration", .timeLimit(.minutes(10)))
struct TracingConfigurationTests {
    private func resolve(_ hostJSON: String, _ environment: [String: String]) throws -> TracingSettings? {
        let object = try JSONSerialization.jsonObject(with: Data(hostJSON.utf8)) as! [String: Any]
        return try HostConfiguration.parse(JSONObject(object, file: "host.json")).tracing.resolve(environment: environment)
    }

    private func resolve(_ environment: [String: String]) throws -> TracingSettings? {
        try resolve(#"{ "version": "2.0" }"#, environment)
    }

    @Test("Off unless host.json enables it or an OTLP endpoint is set; OTEL_SDK_DISABLED and enabled false win")
    func whenItTraces() throws {
        #expect(try resolve([:]) == nil)
        #expect(try resolve(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"])?.tracesEndpoint == "http://collector:4318/v1/traces")
        #expect(try resolve(["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/custom"])?.tracesEndpoint == "http://collector:4318/custom")
        #expect(try resolve(#"{ "version": "2.0", "swiftfunc": { "tracing": { "enabled": true } } }"#, [:])?.tracesEndpoint == "http://localhost:4318/v1/traces")
        #expect(try resolve(#"{ "version": "2.0", "swiftfunc": { "tracing": { "enabled": true, "endpoint": "http://tempo:4318/" } } }"#, [:])?.tracesEndpoint
                == "http://tempo:4318/v1/traces")
        #expect(try resolve(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"]) == nil)
        #expect(try resolve(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"]) == nil)
        #expect(try resolve(#"{ "version": "2.0", "swiftfunc": { "tracing": { "enabled": false } } }"#, ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"]) == nil)
    }

    @Test("Sampling: parent-based ratio from host.json or OTEL_TRACES_SAMPLER(_ARG); the service name from OTEL_SERVICE_NAME")
    func sampling() throws {
        let on = ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"]
        #expect(try resolve(on)?.sampler == .parentBasedAlwaysOn)
        #expect(try resolve(#"{ "version": "2.0", "swiftfunc": { "tracing": { "samplerRatio": 0.01 } } }"#, on)?.sampler == .parentBasedTraceIDRatio(0.01))
        #expect(try resolve(on.merging(["OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"]) { $1 })?.sampler
                == .parentBasedTraceIDRatio(0.25))
        #expect(try resolve(on.merging(["OTEL_TRACES_SAMPLER": "always_off"]) { $1 })?.sampler == .alwaysOff)
        #expect(try resolve(on.merging(["OTEL_SERVICE_NAME": "orders"]) { $1 })?.serviceName == "orders")
        #expect(try resolve(#"{ "version": "2.0", "swiftfunc": { "tracing": { "serviceName": "billing" } } }"#, on)?.serviceName == "billing")
    }

    @Test("What the host cannot honour is refused naming the variable or field and the fix; unknown fields are warned about")
    func refusals() throws {
        let on = ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"]
        #expect(throws: ConfigurationError(file: "environment", field: "OTEL_EXPORTER_OTLP_PROTOCOL",
                                           "'grpc' is not supported; swiftfunc exports OTLP over HTTP with protobuf only (its build leaves out gRPC and JSON): set it to http/protobuf, or unset it")) {
            try resolve(on.merging(["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"]) { $1 })
        }
        #expect(try resolve(on.merging(["OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"]) { $1 }) != nil)
        let sampler = #expect(throws: ConfigurationError.self) { try resolve(on.merging(["OTEL_TRACES_SAMPLER": "xray"]) { $1 }) }
        #expect(sampler?.field == "OTEL_TRACES_SAMPLER")
        let ratio = #expect(throws: ConfigurationError.self) {
            try resolve(on.merging(["OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "5"]) { $1 })
        }
        #expect(ratio?.field == "OTEL_TRACES_SAMPLER_ARG")
        let field = #expect(throws: ConfigurationError.self) {
            try resolve(#"{ "version": "2.0", "swiftfunc": { "tracing": { "samplerRatio": 2 } } }"#, [:])
        }
        #expect(field?.field == "swiftfunc.tracing.samplerRatio")
        let object = try JSONSerialization.jsonObject(with: Data(#"{ "version": "2.0", "swiftfunc": { "tracing": { "enabeld": true } } }"#.utf8)) as! [String: Any]
        let warnings = try HostConfiguration.parse(JSONObject(object, file: "host.json")).warnings.map(\.description)
        #expect(warnings.contains { $0.contains("swiftfunc.tracing.enabeld") && $0.contains("enabled") })
    }

    @Test("traceparent: version 00 exactly, lowercase hex, no all-zero ids, version ff refused, later versions read")
    func traceparentCheck() {
        func parse(_ text: String) -> TraceParent? { TraceParent(text) }
        let valid = parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        #expect(valid?.traceID == "0af7651916cd43dd8448eb211c80319c")
        #expect(valid?.spanID == "b7ad6b7169203331")
        #expect(valid?.sampled == true)
        #expect(parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")?.sampled == false)
        #expect(parse("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01") == nil)
        #expect(parse("00-00000000000000000000000000000000-b7ad6b7169203331-01") == nil)
        #expect(parse("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01") == nil)
        #expect(parse("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") == nil)
        #expect(parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra") == nil)
        #expect(parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01") == nil)
        #expect(parse("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-holds")?.text
                == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    }

    @Test("The host's sampling decision: each sampler as OpenTelemetry defines it, and the spans-per-second ceiling counts what it leaves out")
    func samplingDecisions() throws {
        let sampled = try #require(TraceParent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))
        let unsampled = try #require(TraceParent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"))
        func decides(_ sampler: TracingSettings.Sampler, _ parent: TraceParent?, random: UInt64 = 0) -> Bool {
            SpanSampling(sampler: sampler, maxSpansPerSecond: 0).records(parent: parent?.decisionInputs, random: random)
        }
        #expect(decides(.parentBasedAlwaysOn, sampled) && !decides(.parentBasedAlwaysOn, unsampled) && decides(.parentBasedAlwaysOn, nil))
        #expect(decides(.parentBasedAlwaysOff, sampled) && !decides(.parentBasedAlwaysOff, unsampled) && !decides(.parentBasedAlwaysOff, nil))
        #expect(decides(.alwaysOn, unsampled) && !decides(.alwaysOff, sampled))
        // A ratio decides a new trace by the random number, a parent's by the parent's flag (parent-based) ...
        #expect(decides(.parentBasedTraceIDRatio(0.5), nil, random: 1) && !decides(.parentBasedTraceIDRatio(0.5), nil, random: .max))
        #expect(decides(.parentBasedTraceIDRatio(0.0), sampled) && !decides(.parentBasedTraceIDRatio(1.0), unsampled))
        // ... or by its trace id (traceidratio: the low 64 bits, 0x8448eb211c80319c, just above half).
        #expect(!decides(.traceIDRatio(0.5), sampled) && decides(.traceIDRatio(0.6), unsampled))
        // Roughly the ratio over many new traces.
        var random = TraceRandom()
        let ratio = SpanSampling(sampler: .parentBasedTraceIDRatio(0.1), maxSpansPerSecond: 0)
        let chosen = (0..<20_000).filter { _ in ratio.records(parent: nil, random: random.next()) }.count
        #expect(chosen > 1_600 && chosen < 2_400, "\(chosen) of 20,000 at 10 %")

        // The ceiling: 5 a second, the rest counted.
        let ceiling = SpanSampling(sampler: .alwaysOn, maxSpansPerSecond: 5)
        let recorded = (0..<50).filter { _ in ceiling.records(parent: nil, random: 0) }.count
        #expect(recorded >= 5 && recorded <= 10, "\(recorded) recorded (at most 5 in each second the loop spans)")
        #expect(ceiling.overLimit.load(ordering: .relaxed) == 50 - recorded)

        // What an unrecorded invocation hands on: the parent's trace, a new span, unsampled.
        let current = CurrentTrace()
        var recordText = sampled.text
        recordText.withUTF8 { current.beginUnsampled(trace: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer($0)[3..<35]), random: &random) }
        let handedOn = try #require(current.text.flatMap(TraceParent.init))
        #expect(handedOn.traceID == sampled.traceID && handedOn.spanID != sampled.spanID && !handedOn.sampled)
        current.beginUnsampled(trace: nil, random: &random)
        let fresh = try #require(current.text.flatMap(TraceParent.init))
        #expect(fresh.traceID != sampled.traceID && !fresh.sampled)
        // The flags' bit 0 is read from the hex digit's value ("b" is 11: sampled).
        #expect(try #require(TraceParent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0b")).decisionInputs.sampled)
        #expect(!(try #require(TraceParent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0a")).decisionInputs.sampled))

        // host.json's ceiling, in range.
        #expect(try resolve(#"{ "version": "2.0", "swiftfunc": { "tracing": { "enabled": true, "maxSpansPerSecond": 250 } } }"#, [:])?.maxSpansPerSecond == 250)
        #expect(try resolve(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"])?.maxSpansPerSecond == 1000)
        #expect(throws: ConfigurationError.self) {
            try resolve(#"{ "version": "2.0", "swiftfunc": { "tracing": { "enabled": true, "maxSpansPerSecond": -1 } } }"#, [:])
        }
    }
}
