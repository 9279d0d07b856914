import FunctionABI
import Synchronization
import Tracing

/// The spans of one ``Invoker``'s calls (it exists only for a function that traces, so a
/// function that does not costs one nil check per call): a CONSUMER span `process {topic}` per
/// invocation with OpenTelemetry's messaging attributes (semantic conventions 1.x, Kafka) —
/// cardinality ONE a child of the record's `traceparent`, MANY one span with a link to each
/// record's — and the invocation's own `traceparent` in ``current`` for what the function sends.
///
/// A failed invocation's span stays open until the retry policy decides (``decided(_:attempt:)``
/// adds a `retry` or `dead_letter` event), so the decision is on the span that failed.
final class InvocationTracing {
    let current = CurrentTrace()
    private let tracer: FunctionTracer
    /// Ratio decisions and the ids of contexts handed on unsampled (this invoker's thread only).
    private var random = TraceRandom()
    private let spanName: String
    private let many: Bool
    private let deadLetterTopic: String
    /// The attributes every span of the function has.
    private let fixedAttributes: SpanAttributes
    private var span: (any Span)?
    /// A failed invocation's span, until its decision; and its `traceparent`, which its dead
    /// letters carry (until the next invocation).
    private var undecided: (any Span)?
    private var failedTraceparent: String?

    init(tracer: FunctionTracer, function: FunctionConfiguration) {
        self.tracer = tracer
        spanName = "process \(function.trigger.topic)"
        many = function.trigger.cardinality == .many
        deadLetterTopic = function.deadLetterTopic
        fixedAttributes = [
            "messaging.system": "kafka",
            "messaging.operation.name": "process",
            "messaging.operation.type": "process",
            "messaging.destination.name": .string(function.trigger.topic),
            "messaging.consumer.group.name": .string(function.trigger.consumerGroup),
        ]
    }

    /// Opens the invocation's span over `count` `events`, whose headers `headers` reads (the
    /// function finds them parsed when it asks, as the host did the work once).
    func begin(_ events: UnsafeMutablePointer<sf_event_v1>, count: Int, headers: HeadersOnDemand) {
        finishUndecided()
        failedTraceparent = nil
        span = nil
        var parent = ServiceContext.topLevel
        var links: [SpanLink] = []
        if many {
            // A batch starts a new trace: the sampler decides as for a record without a parent.
            guard tracer.sampling.records(parent: nil, random: random.next()) else {
                return current.beginUnsampled(trace: nil, random: &random)
            }
            for index in 0..<count {
                if let record = recordTrace(UnsafeRawPointer(events + index), headers) {
                    links.append(SpanLink(context: context(of: record), attributes: [:]))
                }
            }
        } else {
            // The decision reads the record's traceparent in place; the text for swift-otel is
            // made only for an invocation that records.
            let bytes = count > 0 ? validTraceparent(UnsafeRawPointer(events), headers) : nil
            guard tracer.sampling.records(parent: bytes.map(TraceParent.decisionInputs), random: random.next()) else {
                return current.beginUnsampled(trace: bytes.map { UnsafeRawBufferPointer(rebasing: $0[3..<35]) }, random: &random)
            }
            if let record = bytes.flatMap({ recordTrace(UnsafeRawPointer(events), headers, validated: $0) }) { parent = context(of: record) }
        }
        let span = tracer.tracer.startSpan(spanName, context: parent, ofKind: .consumer)
        if span.isRecording {
            var attributes = fixedAttributes
            describe(events, count: count, into: &attributes)
            span.attributes = attributes
            for link in links { span.addLink(link) }
        }
        var carrier = TraceHeaders()
        tracer.tracer.inject(span.context, into: &carrier, using: TraceHeaders.Injection())
        if let text = carrier.traceparent { current.begin(text) } else { current.end() }
        self.span = span
    }

    /// Closes the span of the call that just returned: ended when it succeeded, kept open for
    /// the retry policy's decision when it failed.
    /// - Parameter functionFailed: the function returned failure (else a failure is its outputs').
    func end(_ outcome: InvocationOutcome, count: Int, functionFailed: Bool) {
        guard let span else {
            // Not recorded: its dead letters still carry the context it handed on.
            if outcome.failure != nil || !outcome.failedItems.isEmpty { failedTraceparent = current.text }
            current.end()
            return
        }
        self.span = nil
        let traceparent = current.text
        current.end()
        if let failure = outcome.failure {
            span.attributes["error.type"] = functionFailed ? "function_error" : "output_not_delivered"
            span.setStatus(SpanStatus(code: .error, message: failure))
        } else if let first = outcome.failedItems.min(by: { $0.key < $1.key }) {
            span.attributes["error.type"] = "failed_items"
            span.attributes["swiftfunc.failed_item_count"] = outcome.failedItems.count
            span.setStatus(SpanStatus(code: .error, message: "\(outcome.failedItems.count) of \(count) items failed; item \(first.key): \(first.value)"))
        } else {
            span.end()
            return
        }
        undecided = span
        failedTraceparent = traceparent
    }

    /// The retry policy decided about the failed invocation: the decision becomes an event of
    /// its span, which ends. Returns its `traceparent`, for its dead letters.
    func decided(_ decision: FailurePolicy.Decision, attempt: Int) -> String? {
        if let span = undecided {
            undecided = nil
            switch decision {
            case .retry(let delay):
                span.addEvent(SpanEvent(name: "retry", attributes: [
                    "swiftfunc.attempt": .int64(Int64(attempt)),
                    "swiftfunc.retry.delay_ms": .int64(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000),
                ]))
            case .deadLetter:
                span.addEvent(SpanEvent(name: "dead_letter", attributes: [
                    "swiftfunc.attempt": .int64(Int64(attempt)), "swiftfunc.dead_letter.topic": .string(deadLetterTopic),
                ]))
            }
            span.end()
        }
        return failedTraceparent
    }

    /// A failed span nobody decided about (its messages joined others already held) ends as it is.
    private func finishUndecided() {
        undecided?.end()
        undecided = nil
    }

    /// The record's `traceparent` header's bytes when it is valid; nil without one, and for a
    /// malformed one (counted, and ignored as the W3C recommendation says: the invocation starts
    /// a new trace).
    private func validTraceparent(_ event: UnsafeRawPointer, _ headers: HeadersOnDemand) -> UnsafeRawBufferPointer? {
        guard let header = headers.header(of: event, named: UnsafeRawBufferPointer(staticText: "traceparent")) else { return nil }
        let bytes = UnsafeRawBufferPointer(start: header.pointee.value, count: header.pointee.value_length)
        guard TraceParent.isValid(bytes) else {
            tracer.malformedTraceContexts.wrappingAdd(1, ordering: .relaxed)
            return nil
        }
        return bytes
    }

    /// The trace context of the record behind `event`: its `traceparent` (and `tracestate`)
    /// headers, when the first is valid.
    private func recordTrace(_ event: UnsafeRawPointer, _ headers: HeadersOnDemand,
                             validated: UnsafeRawBufferPointer? = nil) -> (parent: TraceParent, state: String?)? {
        guard let bytes = validated ?? validTraceparent(event, headers), let valid = TraceParent(bytes) else { return nil }
        var state: String?
        if let header = headers.header(of: event, named: UnsafeRawBufferPointer(staticText: "tracestate")), let value = header.pointee.value {
            state = String(decoding: UnsafeRawBufferPointer(start: value, count: header.pointee.value_length), as: UTF8.self)
        }
        return (valid, state)
    }

    /// A record's trace context as swift-otel's propagator reads it (the parent or a link of a span).
    private func context(of record: (parent: TraceParent, state: String?)) -> ServiceContext {
        var context = ServiceContext.topLevel
        tracer.tracer.extract(TraceHeaders(traceparent: record.parent.text, tracestate: record.state), into: &context, using: TraceHeaders.Extraction())
        return context
    }

    /// The record's place: partition and offset (ONE), the batch's size and its partition when
    /// it has one (MANY), the key when it is text (ONE).
    private func describe(_ events: UnsafeMutablePointer<sf_event_v1>, count: Int, into attributes: inout SpanAttributes) {
        guard count > 0 else { return }
        let first = events[0]
        if many {
            attributes["messaging.batch.message_count"] = count
            if (1..<count).allSatisfy({ events[$0].partition == first.partition }) {
                attributes["messaging.destination.partition.id"] = "\(first.partition)"
            }
            return
        }
        attributes["messaging.destination.partition.id"] = "\(first.partition)"
        attributes["messaging.kafka.offset"] = Int(first.offset)
        if let key = first.key, isValidUTF8(key, count: first.key_length) {
            attributes["messaging.kafka.message.key"] = String(decoding: UnsafeBufferPointer(start: key, count: first.key_length), as: UTF8.self)
        }
    }
}

/// The `traceparent` and `tracestate` headers as swift-otel's W3C propagator reads and writes them.
struct TraceHeaders {
    var traceparent: String?
    var tracestate: String?

    struct Extraction: Extractor {
        func extract(key: String, from carrier: TraceHeaders) -> String? {
            switch key {
            case "traceparent": carrier.traceparent
            case "tracestate": carrier.tracestate
            default: nil
            }
        }
    }

    struct Injection: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout TraceHeaders) {
            switch key {
            case "traceparent": carrier.traceparent = value
            case "tracestate": carrier.tracestate = value
            default: break
            }
        }
    }
}
