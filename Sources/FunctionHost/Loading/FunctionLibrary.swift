import FunctionABI
import Foundation

/// A function's shared library, opened with `RTLD_NOW | RTLD_LOCAL` and never closed: unloading
/// Swift code leaves dangling runtime metadata behind, so a changed library needs a new process.
package struct FunctionLibrary: @unchecked Sendable {
    package let path: String
    package let entryPoint: UnsafeMutableRawPointer
    /// The boundary version the library speaks (``FunctionABIVersion``): how its events are filled.
    package let abiVersion: FunctionABIVersion
    /// `ENTRY_flush`, exported by functions that return SF_PENDING.
    let flushFunction: UnsafeMutableRawPointer?
    /// Set when the library does not describe its entry point, so its bindings were not checked:
    /// a line for the host's log.
    let uncheckedWarning: String?

    /// Opens the library of `function`, checks its ABI version, finds its entry point and, when
    /// the library describes the entry point (`swiftfunc_signature_ENTRY`), checks that
    /// function.json binds it to the same parameters.
    /// - Throws: ``ConfigurationError`` naming function.json and the field to fix.
    package static func load(_ function: FunctionConfiguration, scriptRoot: URL) throws -> FunctionLibrary {
        let path = function.libraryPath
        let shown = displayPath(path, scriptRoot: scriptRoot)
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConfigurationError(file: function.file, field: "scriptFile",
                                     "library \(shown) does not exist; build the function (make functions, or swift build) and copy its .so there, or point scriptFile at it")
        }
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw ConfigurationError(file: function.file, field: "scriptFile",
                                     "\(shown) could not be loaded as a shared library: \(lastDynamicLinkerError())")
        }
        guard let versionSymbol = dlsym(handle, "swiftfunc_abi_version") else {
            throw ConfigurationError(file: function.file, field: "scriptFile",
                                     "\(shown) does not export swiftfunc_abi_version, so it is not a swiftfunc function library; import SwiftFunctions (or define it in C from swiftfunc.h)")
        }
        let version = unsafeBitCast(versionSymbol, to: (@convention(c) () -> UInt32).self)()
        guard let abiVersion = FunctionABIVersion(rawValue: version) else {
            throw ConfigurationError(file: function.file, field: "scriptFile",
                                     "\(shown) was built for swiftfunc ABI version \(version) but this host speaks versions \(FunctionABIVersion.supported); rebuild the function against this swiftfunc")
        }
        guard let entryPoint = dlsym(handle, function.entryPoint) else {
            throw ConfigurationError(file: function.file, field: "entryPoint",
                                     "\(shown) does not export the symbol '\(function.entryPoint)'; export it with @_cdecl(\"\(function.entryPoint)\") or set entryPoint to the name it exports")
        }
        let descriptorSymbol = SF_SIGNATURE_SYMBOL_PREFIX + function.entryPoint
        var uncheckedWarning: String?
        if let signatureSymbol = dlsym(handle, descriptorSymbol) {
            let describe = unsafeBitCast(signatureSymbol, to: (@convention(c) () -> UnsafePointer<CChar>?).self)
            let text = describe().map { String(cString: $0) } ?? ""
            guard let signature = FunctionSignature(descriptor: text) else {
                throw ConfigurationError(file: function.file, field: "entryPoint",
                                         "\(shown) exports \(descriptorSymbol) but its text '\(text)' is not a signature descriptor (\"trigger=one|many|document outputs=N\", see docs/ABI.md); rebuild it against this swiftfunc")
            }
            if let mismatch = FunctionSignature.mismatch(library: signature, expected: FunctionSignature(expectedBy: function),
                                                         function: function, libraryName: shown) {
                throw mismatch
            }
        } else {
            uncheckedWarning = "\(shown) does not export \(descriptorSymbol), so its parameters were not checked against function.json (expected \(FunctionSignature(expectedBy: function))); a mismatch would crash the host. Export it (the Swift SDK computes it: `.of(\(function.entryPoint))`; see docs/ABI.md)"
        }
        let flushFunction = dlsym(handle, "\(function.entryPoint)_flush")
        if flushFunction != nil { try checkFlushFits(function) }
        return FunctionLibrary(path: path, entryPoint: entryPoint, abiVersion: abiVersion, flushFunction: flushFunction,
                               uncheckedWarning: uncheckedWarning)
    }

    /// A library exporting `ENTRY_flush` returns SF_PENDING: its records are durable only after
    /// a later flush, in the order they came. Two trigger settings cannot keep that promise.
    /// - Throws: ``ConfigurationError`` naming the field and the two ways out.
    private static func checkFlushFits(_ function: FunctionConfiguration) throws {
        if function.trigger.processingGuarantee == .exactlyOnce {
            throw ConfigurationError(file: function.file, field: "\(function.trigger.path).processingGuarantee",
                "exactlyOnce commits a message's offset with its outputs as soon as the call returns, but the library exports \(function.entryPoint)_flush (SF_PENDING: durable only after a later flush). Use atLeastOnce, or drop the flush export")
        }
        if function.trigger.ordering != .partition {
            throw ConfigurationError(file: function.file, field: "\(function.trigger.path).ordering",
                "'\(function.trigger.ordering.rawValue)' runs invocations side by side, but the library exports \(function.entryPoint)_flush (SF_PENDING), whose flush must follow the records in order: use ordering partition, or drop the flush export")
        }
    }

    private static func lastDynamicLinkerError() -> String {
        dlerror().map { String(cString: $0) } ?? "unknown error"
    }

    private static func displayPath(_ path: String, scriptRoot: URL) -> String {
        let root = scriptRoot.standardizedFileURL.path + "/"
        return path.hasPrefix(root) ? String(path.dropFirst(root.count)) : path
    }
}
