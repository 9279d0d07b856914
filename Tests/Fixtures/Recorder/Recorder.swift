// A function library for the tests: it appends what it received, exactly, to
// $SWIFTFUNC_RECORD_DIR/<function name>.jsonl (bytes as hex, null as JSON null), one line per
// invocation, flushed before it returns, so a test can compare it with what it produced.
#if canImport(Glibc)
import Glibc
#endif
import SwiftFunctions

/// cardinality ONE. Fails every time on the value "fail", and only the first time on "fail-once".
@_cdecl("record_one")
public func record_one(_ event: Event, _ context: Context) -> Status {
    context.run {
        append(#"{"events":["# + describe(event, context) + "]}", function: context.functionName)
        try failIfAsked(event, context)
    }
}

@_cdecl("swiftfunc_signature_record_one")
public func record_one_signature() -> Signature { .of(record_one) }

/// cardinality ONE, for the fault suite: fails, crashes or hangs as `record_one` does, and
/// otherwise appends "partition offset value" to $SWIFTFUNC_RECORD_DIR/<function>.processed and
/// fsyncs it before returning, so a line there means the message was processed, whatever
/// happens to the process afterwards.
@_cdecl("process_durably")
public func process_durably(_ event: Event, _ context: Context) -> Status {
    context.run {
        try failIfAsked(event, context)
        append("\(event.partition) \(event.offset) \(event.valueString ?? "")", function: context.functionName, suffix: ".processed", sync: true)
    }
}

@_cdecl("swiftfunc_signature_process_durably")
public func process_durably_signature() -> Signature { .of(process_durably) }

/// cardinality MANY, for the fault suite: each event is handled as `process_durably` handles
/// it (a "fail" item is reported failed, "crash" traps, "slow" waits), and the batch's processed
/// lines are appended and fsynced before the call returns.
@_cdecl("process_batch_durably")
public func process_batch_durably(_ events: Event, _ count: Int, _ context: Context) -> Status {
    context.run {
        let batch = Batch(events, count)
        var lines: [String] = []
        for (index, event) in batch.enumerated() {
            do {
                try failIfAsked(event, context)
                lines.append("\(event.partition) \(event.offset) \(event.valueString ?? "")")
            } catch {
                context.failItem(at: index, reason: "\(error)")
            }
        }
        if !lines.isEmpty { append(lines.joined(separator: "\n"), function: context.functionName, suffix: ".processed", sync: true) }
    }
}

@_cdecl("swiftfunc_signature_process_batch_durably")
public func process_batch_durably_signature() -> Signature { .of(process_batch_durably) }

/// cardinality MANY. Reports items whose value is "fail-item" as failed.
@_cdecl("record_many")
public func record_many(_ events: Event, _ count: Int, _ context: Context) -> Status {
    context.run {
        let batch = Batch(events, count)
        append(#"{"events":["# + batch.map { describe($0, context) }.joined(separator: ",") + "]}", function: context.functionName)
        for (index, event) in batch.enumerated() where event.valueString == "fail-item" {
            context.failItem(at: index, reason: "asked to fail")
        }
    }
}

@_cdecl("swiftfunc_signature_record_many")
public func record_many_signature() -> Signature { .of(record_many) }

/// cardinality ONE with one output binding: sends the event's key, value and headers on, plus a
/// header "forwarded-by".
@_cdecl("forward")
public func forward(_ event: Event, _ output: Output, _ context: Context) -> Status {
    context.run {
        append(#"{"events":["# + describe(event, context) + "]}", function: context.functionName)
        var headers = event.headers(in: context).map { ($0.name, $0.valueBytes ?? []) }
        headers.append(("forwarded-by", Array(context.functionName.utf8)))
        try output.send(value: event.valueBytes, key: event.keyBytes, headers: headers)
    }
}

@_cdecl("swiftfunc_signature_forward")
public func forward_signature() -> Signature { .of(forward) }

/// cardinality ONE with one output binding, for pipelines: sends the value on without waiting
/// for its delivery (the output topic is the ledger), then does what the value asks (as
/// `process_durably`: "slow" waits 20 ms, "fail" and "fail-once" throw, "crash" traps), so a
/// failed attempt has sent its record already.
@_cdecl("forward_value")
public func forward_value(_ event: Event, _ output: Output, _ context: Context) -> Status {
    context.run {
        try output.send(value: event.valueBytes, key: event.keyBytes)
        try failIfAsked(event, context)
    }
}

@_cdecl("swiftfunc_signature_forward_value")
public func forward_value_signature() -> Signature { .of(forward_value) }

/// cardinality MANY with one output binding: sends each event's value on, except items that
/// fail as `process_batch_durably`'s do ("fail", "fail-once" the first time): those are
/// reported failed and send nothing.
@_cdecl("forward_many")
public func forward_many(_ events: Event, _ count: Int, _ output: Output, _ context: Context) -> Status {
    context.run {
        for (index, event) in Batch(events, count).enumerated() {
            do {
                try failIfAsked(event, context)
                try output.send(value: event.valueBytes, key: event.keyBytes)
            } catch {
                context.failItem(at: index, reason: "\(error)")
            }
        }
    }
}

@_cdecl("swiftfunc_signature_forward_many")
public func forward_many_signature() -> Signature { .of(forward_many) }

/// cardinality ONE, for the ordering tests (it may be called from many threads at once): does
/// what the value asks ("slow" waits 20 ms, "sleep:MS" MS milliseconds, "fail" throws) and appends
/// "key value partition offset start_ns end_ns" (CLOCK_MONOTONIC around that work) to
/// $SWIFTFUNC_RECORD_DIR/<function>.timed, one write per call so lines never interleave.
@_cdecl("record_timed")
public func record_timed(_ event: Event, _ context: Context) -> Status {
    context.run {
        let started = monotonicNanoseconds()
        defer {
            let key = event.keyString ?? "-"
            append("\(key) \(event.valueString ?? "-") \(event.partition) \(event.offset) \(started) \(monotonicNanoseconds())",
                   function: context.functionName, suffix: ".timed")
        }
        try failIfAsked(event, context)
    }
}

@_cdecl("swiftfunc_signature_record_timed")
public func record_timed_signature() -> Signature { .of(record_timed) }

private func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// An eventFormat function: records the document it got as the value of one event.
@_cdecl("record_document")
public func record_document(_ document: Document, _ context: Context) -> Status {
    context.run {
        append(#"{"events":["# + describe(UnsafeRawPointer(document).assumingMemoryBound(to: sf_event.self), context) + "]}",
               function: context.functionName)
    }
}

@_cdecl("swiftfunc_signature_record_document")
public func record_document_signature() -> Signature { .of(record_document) }

struct AskedToFail: Error, CustomStringConvertible {
    let offset: Int64
    var description: String { "asked to fail at offset \(offset)" }
}

/// What a message asks of the fixture: its value up to the first ":" ("fail:17" asks "fail").
/// "fail": throws. "fail-once": throws the first time. "crash": a Swift trap (the process dies).
/// "hang": never returns (for functionTimeout). "slow": takes 20 ms. "brief": takes 1 ms.
/// Anything else: succeeds.
private func failIfAsked(_ event: Event, _ context: Context) throws {
    let command = (event.valueString ?? "").split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
    switch command {
    case "fail":
        throw AskedToFail(offset: event.offset)
    case "crash":
        fatalError("asked to crash at offset \(event.offset)")
    case "hang":
        while true { sleep(3600) }
    case "slow":
        usleep(20_000)
    case "brief":
        usleep(1_000)
    case "sleep":
        // "sleep:MS": a call that lasts MS milliseconds, for what the host reports meanwhile.
        let parts = (event.valueString ?? "").split(separator: ":")
        if parts.count == 2, let milliseconds = UInt32(parts[1]) { usleep(milliseconds * 1_000) }
    case "fail-once":
        let marker = recordPath("\(context.functionName)-\(event.partition)-\(event.offset).failed")
        if access(marker, F_OK) != 0 {
            close(open(marker, O_CREAT | O_WRONLY, 0o644))
            throw AskedToFail(offset: event.offset)
        }
    default:
        break
    }
}

/// The event as JSON. Its headers come through the context (ABI version 2), as a function reads
/// them; "dup" is the first header called "dup" as `header(_:in:)` finds it, "trace" the trace
/// context (as the C Recorder in Tests/Fixtures/CRecorder writes them).
private func describe(_ event: Event, _ context: Context) -> String {
    let headers = event.headers(in: context).map { #"[""# + $0.name + #"","# + hex($0.valueBytes) + "]" }.joined(separator: ",")
    let trace = event.traceContext(in: context).map { "[" + hex(Array($0.traceparent.utf8)) + "," + hex($0.tracestate.map { Array($0.utf8) }) + "]" } ?? "null"
    return #"{"topic":""# + event.topic + #"","partition":\#(event.partition),"offset":\#(event.offset),"#
        + #""timestamp":\#(event.timestamp ?? -1),"timestampType":\#(event.timestampType.rawValue),"#
        + #""key":"# + hex(event.keyBytes) + #","value":"# + hex(event.valueBytes) + #","headers":["# + headers + "],"
        + #""dup":"# + (event.header("dup", in: context).map { hex($0.valueBytes) } ?? "null") + #","trace":"# + trace + "}"
}

private func hex(_ bytes: [UInt8]?) -> String {
    guard let bytes else { return "null" }
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = [UInt8(ascii: "\"")]
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0xF)])
    }
    text.append(UInt8(ascii: "\""))
    return String(decoding: text, as: UTF8.self)
}

private func recordPath(_ name: String) -> String {
    let directory = getenv("SWIFTFUNC_RECORD_DIR").map { String(cString: $0) } ?? "."
    return directory + "/" + name
}

private func append(_ line: String, function: String, suffix: String = ".jsonl", sync: Bool = false) {
    let descriptor = open(recordPath(function + suffix), O_CREAT | O_WRONLY | O_APPEND, 0o644)
    guard descriptor >= 0 else { return }
    defer { close(descriptor) }
    var bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress, $0.count) }
    if sync { fsync(descriptor) }
}
