import CRdKafka
import Logging
import Synchronization

/// What becomes of a fetched message before anything is called.
enum Disposition: UInt8 {
    /// Call the function (in a batch with its neighbours for MANY).
    case invoke
    /// Call the function with this message alone: it crashed the host before.
    case invokeAlone
    /// It crashed the host `maxCrashesPerMessage` times: dead-letter it, do not call.
    case deadLetterCrashed
    /// Not UTF-8 for a string function: dead-letter it, do not call.
    case deadLetterInvalidText
    /// Older than the trigger's `maxRecordAge`: dead-letter it, do not call.
    case deadLetterRecordAge
    /// Its schema is not in the registry: dead-letter it, do not call.
    case deadLetterSchemaNotFound
    /// It does not decode with its schema (or is not framed): dead-letter it, do not call.
    case deadLetterUndecodable
    /// It matches none of the trigger's `filters`: settle it, do not call.
    case filteredOut
    /// It comes before the trigger's `startFrom` time, on a partition the cluster named no
    /// offset at that time for: settle it, do not call.
    case beforeStartFrom
    /// The schema registry could not be asked: its partition waits at it and asks again.
    case waitForSchemaRegistry

    /// Settled without a call.
    var isSkipped: Bool { self == .filteredOut || self == .beforeStartFrom }
    /// The function is called with it.
    var isCalled: Bool { self == .invoke || self == .invokeAlone }
}

/// Why a message goes to the dead-letter topic without a call: the `swiftfunc.dlq.*` headers.
struct Refusal {
    let reason: DeadLetterReason
    let error: String
    let attempts: Int
}

/// Admission: decides, in one place and before any call, what becomes of each fetched message
/// (``Disposition``): skipped before the trigger's `startFrom` time, filtered out, too old,
/// crashed too often, not text for a string function, not decodable with its schema, or called.
///
/// Which checks a trigger needs is decided at load: a trigger that uses none of them pays one
/// branch per message (and an atomic load for the crash ledger, nearly always empty).
/// ``disposition(_:)`` runs on the consuming thread (it keeps the `startFrom` skipping state);
/// ``refusal(for:_:decoder:)`` reads nothing that changes and may run on any thread.
final class Admission: @unchecked Sendable {
    /// Messages that matched none of the trigger's `filters`: settled without a call.
    let filteredCount = Atomic<Int>(0)
    /// Messages skipped because they came before the trigger's `startFrom` time.
    let skippedCount = Atomic<Int>(0)
    private let functionName: String
    private let topic: String
    private let filter: MessageFilter?
    private let filterReadsDecodedRecord: Bool
    private let maxRecordAgeMs: Int64?
    private let maxRecordAgeSeconds: Double
    private let checksText: Bool
    /// The consuming thread's decoder (its invoker's), which keeps what a check decoded for the call.
    private let decoder: RecordDecoder?
    private let crashes: CrashLedger?
    private let maxCrashesPerMessage: Int
    /// Nothing but the crash ledger to ask: the common case, decided at load.
    private let checksNothingElse: Bool
    private let logger: Logger
    /// `startFrom` a time: per partition placed at its beginning (the cluster named no offset for
    /// the time), the time its records are skipped before until the first one at or after it.
    private var skipBefore: [Int32: Int64] = [:]

    init(function: FunctionConfiguration, decoder: RecordDecoder?, crashes: CrashLedger?, maxCrashesPerMessage: Int, logger: Logger) {
        functionName = function.name
        topic = function.trigger.topic
        filter = function.trigger.filter
        filterReadsDecodedRecord = decoder != nil && (function.trigger.filter?.readsKeyOrValue ?? false)
        maxRecordAgeSeconds = function.trigger.maxRecordAgeSeconds ?? 0
        maxRecordAgeMs = function.trigger.maxRecordAgeSeconds.map { Int64($0 * 1000) }
        // The function gets a schema record decoded (JSON), not its bytes: no UTF-8 check of them.
        checksText = function.trigger.dataType == .string && decoder == nil
        self.decoder = decoder
        self.crashes = crashes
        self.maxCrashesPerMessage = maxCrashesPerMessage
        checksNothingElse = filter == nil && maxRecordAgeMs == nil && !checksText && decoder == nil
        self.logger = logger
    }

    // MARK: - The consuming thread

    /// What becomes of `message`. Consuming thread only, each fresh message once, in partition order.
    @inline(__always)
    func disposition(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Disposition {
        if checksNothingElse && skipBefore.isEmpty {
            return crashCount(message) == 0 ? .invoke : crashedDisposition(message)
        }
        return checkedDisposition(message)
    }

    private func checkedDisposition(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Disposition {
        if !skipBefore.isEmpty && isBeforeStartFrom(message) {
            skippedCount.wrappingAdd(1, ordering: .relaxed)
            return .beforeStartFrom
        }
        // A schema trigger's value and key patterns match the decoded record, the JSON the
        // function gets: then it is checked before its filters (the check keeps what it decoded
        // for the call). One that does not decode cannot be matched: it goes where its check says.
        var checked = false
        if let filter {
            if filterReadsDecodedRecord, let decoder {
                if let notNow = Self.schemaDisposition(decoder.check(message)) { return notNow }
                checked = true
                if !filter.matches(message, decodedBy: decoder) { return filteredOut() }
            } else if !filter.matches(message) {
                return filteredOut()
            }
        }
        if let maxRecordAgeMs, RecordAge.isOlder(message, thanMs: maxRecordAgeMs) { return .deadLetterRecordAge }
        let crashes = crashCount(message)
        if crashes >= maxCrashesPerMessage { return .deadLetterCrashed }
        if let decoder, !checked, let notNow = Self.schemaDisposition(decoder.check(message)) { return notNow }
        if checksText, let payload = message.pointee.payload,
           !isValidUTF8(payload.assumingMemoryBound(to: UInt8.self), count: message.pointee.len) {
            return .deadLetterInvalidText
        }
        return crashes > 0 ? .invokeAlone : .invoke
    }

    private func filteredOut() -> Disposition {
        filteredCount.wrappingAdd(1, ordering: .relaxed)
        return .filteredOut
    }

    private func crashedDisposition(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Disposition {
        crashCount(message) >= maxCrashesPerMessage ? .deadLetterCrashed : .invokeAlone
    }

    /// Where a schema check sends a message that cannot be called now; nil: it decodes.
    @inline(__always)
    static func schemaDisposition(_ check: RecordDecoder.Check) -> Disposition? {
        switch check {
        case .decodable: nil
        case .undecodable(let reason, _): reason == .schemaNotFound ? .deadLetterSchemaNotFound : .deadLetterUndecodable
        case .registryUnavailable: .waitForSchemaRegistry
        }
    }

    /// Whether the message at `offset` of `partition` crashed the host before.
    @inline(__always)
    func crashCount(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Int {
        crashes?.count(partition: message.pointee.partition, offset: message.pointee.offset) ?? 0
    }

    // MARK: - startFrom a time

    /// `partition` starts from its beginning and skips the records before `milliseconds`.
    func skip(_ partition: Int32, before milliseconds: Int64) {
        skipBefore[partition] = milliseconds
    }

    /// `partitions` skip nothing (revoked, assigned anew, or rewound).
    func stopSkipping(_ partitions: some Sequence<Int32>) {
        guard !skipBefore.isEmpty else { return }
        for partition in partitions { skipBefore.removeValue(forKey: partition) }
    }

    /// Whether `message` comes before the trigger's `startFrom` time on a partition still
    /// skipping. The first record at or after the time ends the skipping of its partition: from
    /// there on everything is delivered. A record without a timestamp ends it too (whether it is
    /// late enough is not known, and delivering it loses nothing).
    private func isBeforeStartFrom(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Bool {
        guard let before = skipBefore[message.pointee.partition] else { return false }
        let timestamp = rd_kafka_message_timestamp(message, nil)
        if timestamp >= 0 && timestamp < before { return true }
        skipBefore.removeValue(forKey: message.pointee.partition)
        logger.info("'\(functionName)': partition \(message.pointee.partition) of \(topic) reached its startFrom time at offset \(message.pointee.offset); the records before it were skipped", metadata: InvocationLogFields.place(topic: topic, partition: message.pointee.partition, offset: message.pointee.offset))
        return false
    }

    // MARK: - Any thread

    /// Why a message with a dead-letter `disposition` is refused (nil for any other), asking
    /// `decoder` (the caller thread's) why a schema record does not decode.
    func refusal(for disposition: Disposition, _ message: UnsafeMutablePointer<rd_kafka_message_t>, decoder: RecordDecoder?) -> Refusal? {
        switch disposition {
        case .deadLetterCrashed:
            let count = crashCount(message)
            return Refusal(reason: .crashed, error: DeadLetterReason.crashedError(times: count), attempts: count)
        case .deadLetterInvalidText:
            return Refusal(reason: .invalidUTF8, error: DeadLetterReason.invalidTextError, attempts: 0)
        case .deadLetterRecordAge:
            return Refusal(reason: .recordAge, error: DeadLetterReason.recordAgeError(message, maxSeconds: maxRecordAgeSeconds), attempts: 0)
        case .deadLetterSchemaNotFound, .deadLetterUndecodable:
            return Refusal(reason: disposition == .deadLetterSchemaNotFound ? .schemaNotFound : .deserializationError,
                           error: Self.schemaFailure(message, decoder: decoder), attempts: 0)
        case .invoke, .invokeAlone, .filteredOut, .beforeStartFrom, .waitForSchemaRegistry:
            return nil
        }
    }

    /// Why `message` cannot be decoded, as `decoder` (the caller thread's) says when asked again.
    static func schemaFailure(_ message: UnsafeMutablePointer<rd_kafka_message_t>, decoder: RecordDecoder?) -> String {
        switch decoder?.check(message) {
        case .undecodable(_, let text)?, .registryUnavailable(let text)?: return text
        case .decodable?, nil: return "decoded on a second look"
        }
    }
}
