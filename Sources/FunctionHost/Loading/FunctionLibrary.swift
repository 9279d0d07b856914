import FunctionABI
import Foundation

/// A function's shared library, opened with `RTLD_NOW | RTLD_LOCAL` and never closed: unloading
/// Swift code leaves dangling runtime metadata behind, so a changed library needs a new process.
package struct FunctionLibrary: @unchecked Sendable {
    package let path: String
    package let entryPoint: UnsafeMutableRawPointer
    /// `ENTRY_flush`, exported by functions that return SF_PENDING.
    let flushFunction: UnsafeMutableRawPointer?

    /// Opens the library of `function`, checks its ABI version and finds its entry point.
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
        guard version == UInt32(SWIFTFUNC_ABI_VERSION) else {
            throw ConfigurationError(file: function.file, field: "scriptFile",
                                     "\(shown) was built for swiftfunc ABI version \(version) but this host speaks version \(SWIFTFUNC_ABI_VERSION); rebuild the function against this swiftfunc")
        }
        guard let entryPoint = dlsym(handle, function.entryPoint) else {
            throw ConfigurationError(file: function.file, field: "entryPoint",
                                     "\(shown) does not export the symbol '\(function.entryPoint)'; export it with @_cdecl(\"\(function.entryPoint)\") or set entryPoint to the name it exports")
        }
        return FunctionLibrary(path: path, entryPoint: entryPoint, flushFunction: dlsym(handle, "\(function.entryPoint)_flush"))
    }

    private static func lastDynamicLinkerError() -> String {
        dlerror().map { String(cString: $0) } ?? "unknown error"
    }

    private static func displayPath(_ path: String, scriptRoot: URL) -> String {
        let root = scriptRoot.standardizedFileURL.path + "/"
        return path.hasPrefix(root) ? String(path.dropFirst(root.count)) : path
    }
}
