@_exported import FunctionABI

/// The ABI version this library was built against. The host reads it before it calls anything
/// else and refuses a library built for another version.
@_cdecl("swiftfunc_abi_version")
public func swiftfunc_abi_version() -> UInt32 {
    UInt32(SWIFTFUNC_ABI_VERSION)
}
