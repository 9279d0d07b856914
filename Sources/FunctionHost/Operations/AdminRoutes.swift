import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// Azure's admin routes: list and describe functions, run one once with an input, pause
/// (drain) and resume. When the endpoint listens beyond loopback they need the
/// `x-functions-key` header to match the `SWIFTFUNC_ADMIN_KEY` app setting.
struct AdminRoutes: Sendable {
    static let keySetting = "SWIFTFUNC_ADMIN_KEY"
    static let keyHeader = HTTPField.Name("x-functions-key")!

    let server: OperationsServer
    private var appHost: FunctionAppHost { server.appHost }

    func list(_ request: Request) async throws -> Response {
        if let refusal = refusal(request) { return refusal }
        return await offPool { json(.ok, appHost.hostedFunctions.map(describe)) }
    }

    func describe(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        if let refusal = refusal(request) { return refusal }
        guard let hosted = find(context) else { return notFound(context) }
        return await offPool { json(.ok, describe(hosted)) }
    }

    /// Runs the function once with `{"input": "...", "key": "...", "headers": {"name": "value"}}`
    /// as a synthetic event of its trigger topic, on its consuming thread between fetches (so a
    /// function with ordering partition is still called one invocation at a time). Its output
    /// records are sent for real.
    func invoke(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        if let refusal = refusal(request) { return refusal }
        guard let hosted = find(context) else { return notFound(context) }
        guard let listener = hosted.listener, let library = hosted.library else {
            return json(.conflict, ["error": "function '\(hosted.report.name)' is not running"])
        }
        let body = try await request.body.collect(upTo: 16 << 20)
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let input = object["input"] as? String else {
            return json(.badRequest, ["error": #"the body must be a JSON object with an "input" string, e.g. {"input": "hello"}; optional: "key" (string), "headers" (object of strings)"#])
        }
        let function = listener.function
        var headers: [(String, [UInt8]?)] = []
        if let given = object["headers"] as? [String: Any] {
            headers = given.sorted { $0.key < $1.key }.map { ($0.key, ($0.value as? String).map { Array($0.utf8) }) }
        }
        let record = SyntheticRecord(topic: function.trigger.topic, partition: 0, offset: -1,
                                     timestamp: Int64(Date().timeIntervalSince1970 * 1000),
                                     key: (object["key"] as? String).map { Array($0.utf8) }, value: Array(input.utf8), headers: headers)
        let invocation = try OperatorInvocation(function: function, library: library, producers: appHost.producers, logger: listener.logger)
        let timeout = (appHost.configuration.functionTimeoutSeconds ?? 300) + 30
        let result: OperatorInvocationResult? = await withCheckedContinuation { continuation in
            let once = ResumeOnce(continuation)
            listener.runOnConsumingThread { once.resume(invocation.run([record])) }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { once.resume(nil) }
        }
        guard let result else {
            return json(.gatewayTimeout, ["error": "'\(function.name)' did not get to run the invocation within \(Int(timeout)) s (its consuming thread is busy); it may still run"])
        }
        return json(result.succeeded ? .ok : .internalServerError, Self.render(result, function: function.name))
    }

    /// Pause: stop fetching, finish what is in flight, commit. Resume: continue. Waits up to
    /// 30 s for the function to get there (202 with the state it is in when it has not). A pause
    /// is this host's (other replicas of the group go on) and outlasts a worker replacement
    /// (``OperatorPauses``).
    func pause(_ request: Request, _ context: BasicRequestContext, _ pause: Bool) async throws -> Response {
        if let refusal = refusal(request) { return refusal }
        guard let hosted = find(context) else { return notFound(context) }
        guard let listener = hosted.listener else {
            return json(.conflict, ["error": "function '\(hosted.report.name)' is not running"])
        }
        listener.requestPause(pause)
        appHost.pauses?.record(hosted.report.name, paused: pause)
        let goal: ListenerOperations.State = pause ? .paused : .running
        let deadline = ContinuousClock.now + .seconds(30)
        while listener.operations.state != goal && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let state = listener.operations.state
        return json(state == goal ? .ok : .accepted, ["name": hosted.report.name, "state": state.label])
    }

    // MARK: - Helpers

    /// A response refusing the request when the endpoint listens beyond loopback and the key is
    /// missing or wrong; nil when it may go on.
    private func refusal(_ request: Request) -> Response? {
        let address = server.address
        if address == "localhost" || address == "::1" || address.hasPrefix("127.") { return nil }
        guard let key = appHost.settings[Self.keySetting], !key.isEmpty else {
            return json(.forbidden, ["error": "admin routes are off: the endpoint listens on \(address), beyond loopback, and the \(Self.keySetting) app setting (environment or local.settings.json Values) is not set"])
        }
        guard let given = request.headers[Self.keyHeader], constantTimeEqual(Array(given.utf8), Array(key.utf8)) else {
            return json(.unauthorized, ["error": "admin routes need the x-functions-key header with the \(Self.keySetting) app setting's value"])
        }
        return nil
    }

    private func find(_ context: BasicRequestContext) -> FunctionAppHost.HostedFunction? {
        let name = context.parameters.get("name") ?? ""
        return appHost.hostedFunctions.first { $0.report.name == name }
    }

    private func notFound(_ context: BasicRequestContext) -> Response {
        let names = appHost.hostedFunctions.map(\.report.name)
        return json(.notFound, ["error": "no function '\(context.parameters.get("name") ?? "")'; the functions are: \(names.joined(separator: ", "))"])
    }

    private func describe(_ hosted: FunctionAppHost.HostedFunction) -> [String: Any] {
        var entry: [String: Any] = ["name": hosted.report.name]
        if let function = hosted.report.configuration {
            entry["trigger"] = [
                "topic": function.trigger.topic, "consumerGroup": function.trigger.consumerGroup,
                "cardinality": function.trigger.cardinality.rawValue, "dataType": function.trigger.dataType.rawValue,
                "ordering": function.trigger.ordering.rawValue,
            ]
            entry["outputs"] = function.outputs.map(\.topic)
        }
        switch hosted.report.status {
        case .disabled: entry["state"] = "disabled"
        case .failed(let reason):
            entry["state"] = "failed"
            entry["lastError"] = reason
        case .running:
            guard let listener = hosted.listener else { break }
            entry["state"] = listener.operations.state.label
            entry["pause"] = Self.pauseScope
            entry["assignedPartitions"] = listener.operations.assignedPartitions
            entry["group"] = listener.operations.membership.withLock { $0 }?.report
                ?? ["protocol": listener.options.groupProtocol.rawValue] as [String: Any]
            var lag: [String: Int64] = [:]
            for item in ConsumerLag.read(listener) { lag["\(item.partition)"] = item.lag }
            entry["lag"] = lag
            let cluster = appHost.healthMonitor?.clusterHealth[hosted.report.name]
            entry["clusterReachable"] = cluster?.reachable ?? true
            entry["lastError"] = listener.lastClientError.withLock { $0 } ?? cluster?.lastError ?? NSNull()
            let statistics = listener.invocationStatistics
            var invocations: [String: Int] = [:]
            for outcome in InvocationStatistics.Outcome.allCases {
                invocations[outcome.label] = statistics.reduce(0) { $0 + $1.slots.value(outcome.rawValue) }
            }
            var deadLettered: [String: Int] = [:]
            for (index, reason) in DeadLetterReason.allCases.enumerated() {
                deadLettered[reason.rawValue] = listener.deadLetters.statistics.slots.value(index)
            }
            entry["counters"] = [
                "messagesConsumed": listener.operations.consumedCount,
                "invocations": invocations,
                "retries": statistics.reduce(0) { $0 + $1.slots.value(InvocationStatistics.retriesSlot) },
                "deadLettered": deadLettered,
                "rebalances": listener.operations.rebalanceCount,
                "pausedPartitions": listener.operations.pausedPartitionCount,
                "settledMessages": listener.settledCount,
            ] as [String: Any]
        }
        return entry
    }

    /// What `/admin/functions` says of pausing, beside each running function's state.
    static let pauseScope = "per host: POST /admin/functions/NAME/pause pauses this host's consumer only (its partitions stay assigned to it, paused; other hosts of the group go on); it lasts through worker restarts and --watch reloads until resumed or until swiftfunc start runs again"

    static func render(_ result: OperatorInvocationResult, function: String) -> [String: Any] {
        var body: [String: Any] = [
            "function": function,
            "outcome": result.outcome,
            "logs": result.logs.map { ["level": "\($0.level)", "message": $0.message] },
            "records": result.records.map(render),
            "produced": result.produced,
        ]
        if let failure = result.failure { body["failure"] = failure }
        if !result.failedItems.isEmpty {
            body["failedItems"] = Dictionary(uniqueKeysWithValues: result.failedItems.map { ("\($0.key)", $0.value) })
        }
        return body
    }

    static func render(_ record: CapturedRecord) -> [String: Any] {
        var entry: [String: Any] = ["topic": record.topic, "partition": record.partition]
        entry["key"] = text(record.key)
        entry["value"] = text(record.value)
        entry["headers"] = record.headers.map { [$0.name, text($0.value)] }
        return entry
    }

    /// UTF-8 text as a string; other bytes as {"base64": "..."}; nil as null.
    static func text(_ bytes: [UInt8]?) -> Any {
        guard let bytes else { return NSNull() }
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        return ["base64": Data(bytes).base64EncodedString()]
    }
}

/// Runs blocking work (librdkafka calls) off Swift's cooperative pool.
func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}

private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
}

/// Resumes a continuation once, whoever comes first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T?, Never>?>
    init(_ continuation: CheckedContinuation<T?, Never>) { self.continuation = Mutex(continuation) }
    func resume(_ value: T?) {
        continuation.withLock { continuation in
            continuation?.resume(returning: value)
            continuation = nil
        }
    }
}
