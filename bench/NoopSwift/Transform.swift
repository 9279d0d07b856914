// The pipeline section's Swift functions (make bench; see bench/run.py), written as a user would,
// through the SwiftFunctions SDK, with one `kafka` output binding:
//   upper_one / upper_many: upper-case each value (ASCII a-z) and send it with Output.send (no
//                           key, the partitioner picks; no delivery wait in the function: the host
//                           waits for the acknowledgement). They count events like count_one
//                           (see Probe in Probe.swift), from the start of the first call.
import SwiftFunctions

@_cdecl("swiftfunc_signature_upper_one")
public func upperOneSignature() -> Signature { .of(upper_one) }

@_cdecl("upper_one")
public func upper_one(_ event: Event, _ output: Output, _ context: Context) -> Status {
    context.run {
        Probe.counted(0) // the first call's start is the run's start
        try output.send(value: upperCased(event))
        Probe.counted(1)
    }
}

@_cdecl("swiftfunc_signature_upper_many")
public func upperManySignature() -> Signature { .of(upper_many) }

@_cdecl("upper_many")
public func upper_many(_ events: Event, _ count: Int, _ output: Output, _ context: Context) -> Status {
    context.run {
        Probe.counted(0)
        for event in Batch(events, count) {
            try output.send(value: upperCased(event))
        }
        Probe.counted(count)
    }
}

/// A copy of the event's value, upper-cased (read in place through the value's view).
private func upperCased(_ event: Event) -> [UInt8]? {
    guard let value = event.value else { return nil }
    return value.withUnsafeBytes { bytes in bytes.map { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") ? $0 - 32 : $0 } }
}
