// The benchmark's Swift functions on ABI version 1, for `make bench`'s v1 rows next to the SDK's
// (version 2) ones: the same no-op and counting functions as bench/NoopSwift, without the SDK
// (which speaks version 2), so the host parses every event's headers before the call as it does
// for any version 1 library. Probe.swift is bench/NoopSwift's.
import FunctionABI

@_cdecl("swiftfunc_abi_version")
public func swiftfunc_abi_version() -> UInt32 { UInt32(SWIFTFUNC_ABI_VERSION_1) }

@_cdecl("noop_one")
public func noop_one(_ event: UnsafePointer<sf_event_v1>, _ context: UnsafePointer<sf_context>) -> Int32 { Int32(SF_OK) }

@_cdecl("noop_many")
public func noop_many(_ events: UnsafePointer<sf_event_v1>, _ count: Int, _ context: UnsafePointer<sf_context>) -> Int32 { Int32(SF_OK) }

@_cdecl("count_one")
public func count_one(_ event: UnsafePointer<sf_event_v1>, _ context: UnsafePointer<sf_context>) -> Int32 {
    Probe.counted(1)
    return Int32(SF_OK)
}

@_cdecl("count_many")
public func count_many(_ events: UnsafePointer<sf_event_v1>, _ count: Int, _ context: UnsafePointer<sf_context>) -> Int32 {
    Probe.counted(count)
    return Int32(SF_OK)
}
