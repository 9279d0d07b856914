import CRdKafka
import Foundation
import Synchronization
import Testing
@testable import FunctionHost

/// Admission without a broker: messages built in memory (key, value, partition, offset: what the
/// checks read), triggers parsed from function.json text.
@Suite("Admission", .timeLimit(.minutes(10)))
struct AdmissionTests {
    private func trigger(_ fields: String) throws -> FunctionConfiguration {
        let json = #"{ "bindings": [ { "type": "kafkaTrigger", "brokerList": "b", "topic": "t"\#(fields) } ] }"#
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        return try FunctionConfiguration.parse(JSONObject(object, file: "functions/Fn/function.json"), name: "Fn",
                                               directory: URL(fileURLWithPath: "/app/functions/Fn"), settings: AppSettings(environment: [:]))
    }

    private func admission(_ fields: String = "", crashes: CrashLedger? = nil, maxCrashes: Int = 3) throws -> Admission {
        Admission(function: try trigger(fields), decoder: nil, crashes: crashes, maxCrashesPerMessage: maxCrashes, logger: LogCapture().logger())
    }

    /// Runs `body` with a message holding `value` (nil: a null value) at `offset` of `partition`.
    private func message<R>(_ value: [UInt8]?, partition: Int32 = 0, offset: Int64 = 0,
                            _ body: (UnsafeMutablePointer<rd_kafka_message_t>) -> R) -> R {
        let message = UnsafeMutablePointer<rd_kafka_message_t>.allocate(capacity: 1)
        defer { message.deallocate() }
        message.initialize(to: rd_kafka_message_t())
        message.pointee.partition = partition
        message.pointee.offset = offset
        guard let value else { return body(message) }
        return value.withUnsafeBytes { bytes in
            message.pointee.payload = UnsafeMutableRawPointer(mutating: bytes.baseAddress)
            message.pointee.len = bytes.count
            return body(message)
        }
    }

    private func disposition(_ admission: Admission, _ value: [UInt8]?, offset: Int64 = 0) -> Disposition {
        message(value, offset: offset) { admission.disposition($0) }
    }

    @Test func aTriggerWithoutChecksCallsEveryMessageEvenNullAndInvalidText() throws {
        let admission = try admission(#", "dataType": "binary""#)
        #expect(disposition(admission, Array("hello".utf8)) == .invoke)
        #expect(disposition(admission, [0xff, 0xfe]) == .invoke)
        #expect(disposition(admission, nil) == .invoke)
        #expect(admission.filteredCount.load(ordering: .relaxed) == 0)
    }

    @Test func aStringTriggerRefusesInvalidUTF8NamingTheFix() throws {
        let admission = try admission(#", "dataType": "string""#)
        #expect(disposition(admission, Array("grüße".utf8)) == .invoke)
        #expect(disposition(admission, nil) == .invoke)
        #expect(disposition(admission, [0x61, 0xc3, 0x28]) == .deadLetterInvalidText)
        let refusal = try #require(message([0xc3]) { admission.refusal(for: .deadLetterInvalidText, $0, decoder: nil) })
        #expect(refusal.reason == .invalidUTF8 && refusal.attempts == 0)
        #expect(refusal.error.contains("use dataType binary"))
        #expect(message([0x61]) { admission.refusal(for: .invoke, $0, decoder: nil) } == nil)
    }

    @Test func filtersSettleWhatMatchesNoneAndCountIt() throws {
        let admission = try admission(#", "dataType": "string", "filters": [ { "pattern": { "value": { "type": ["order"] } } } ]"#)
        #expect(disposition(admission, Array(#"{"type": "order", "total": 3}"#.utf8)) == .invoke)
        #expect(disposition(admission, Array(#"{"type": "refund"}"#.utf8)) == .filteredOut)
        #expect(disposition(admission, Array("not json".utf8)) == .filteredOut)
        #expect(admission.filteredCount.load(ordering: .relaxed) == 2)
    }

    @Test func aMessageThatCrashedTheHostIsCalledAloneThenRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var records = CrashRecords(directory: directory, function: "Fn", subject: "t")
        _ = records.recordCrash([InvocationJournal.Range(partition: 0, first: 5, last: 5)])
        _ = records.recordCrash([InvocationJournal.Range(partition: 0, first: 6, last: 6)])
        _ = records.recordCrash([InvocationJournal.Range(partition: 0, first: 6, last: 6)])
        let admission = try admission(#", "dataType": "binary""#, crashes: CrashLedger(records), maxCrashes: 2)
        #expect(disposition(admission, [1], offset: 4) == .invoke)
        #expect(disposition(admission, [1], offset: 5) == .invokeAlone)
        #expect(disposition(admission, [1], offset: 6) == .deadLetterCrashed)
        let refusal = try #require(message([1], offset: 6) { admission.refusal(for: .deadLetterCrashed, $0, decoder: nil) })
        #expect(refusal.reason == .crashed && refusal.attempts == 2 && refusal.error == "crashed or timed out the host 2 times")
    }

    @Test func dispositionsSayWhetherTheFunctionIsCalled() throws {
        // Every disposition in one place, with what it means for the call.
        #expect(Disposition.invoke.isCalled && Disposition.invokeAlone.isCalled && !Disposition.filteredOut.isCalled)
        #expect(Disposition.filteredOut.isSkipped && Disposition.beforeStartFrom.isSkipped && !Disposition.deadLetterCrashed.isSkipped)
        let admission = try admission(#", "dataType": "binary""#)
        // A partition that stopped skipping before a startFrom time is not asked about it.
        admission.skip(0, before: Int64.max)
        admission.stopSkipping([0])
        #expect(disposition(admission, [1]) == .invoke)
    }
}
