import FunctionABI
import Foundation
import Glibc
@testable import FunctionHost

/// A function library opened in the test process and called directly, without a consumer: for
/// behaviour the host does not drive yet (documents of an eventFormat, a flush).
final class DirectCall {
    let handle: UnsafeMutableRawPointer
    let log = LogCapture()
    let context: InvocationContext
    private var invocations: UInt64 = 0

    init(library: String, functionName: String) throws {
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
            throw TestSetupError("cannot open \(library): \(String(cString: dlerror()))")
        }
        self.handle = handle
        context = InvocationContext(functionName: functionName, logger: log.logger())
    }

    func symbol<T>(_ name: String, as type: T.Type) throws -> T {
        guard let symbol = dlsym(handle, name) else { throw TestSetupError("the library does not export \(name)") }
        return unsafeBitCast(symbol, to: type)
    }

    func signature(_ entry: String) throws -> String {
        String(cString: try symbol("swiftfunc_signature_\(entry)", as: (@convention(c) () -> UnsafePointer<CChar>).self)())
    }

    /// Calls a `(event-or-document, context)` entry point.
    func callOne(_ entry: String, _ event: UnsafePointer<sf_event_v1>) throws -> Int32 {
        let function = try symbol(entry, as: (@convention(c) (UnsafePointer<sf_event_v1>, UnsafePointer<sf_context>) -> Int32).self)
        begin(event, count: 1)
        return function(event, context.pointer)
    }

    /// Calls a `(events, count, context)` entry point.
    func callMany(_ entry: String, _ events: UnsafePointer<sf_event_v1>, count: Int) throws -> Int32 {
        let function = try symbol(entry, as: (@convention(c) (UnsafePointer<sf_event_v1>, Int, UnsafePointer<sf_context>) -> Int32).self)
        begin(events, count: count)
        return function(events, count, context.pointer)
    }

    /// Calls an `ENTRY_flush(context)` export.
    func flush(_ entry: String) throws -> Int32 {
        let function = try symbol("\(entry)_flush", as: (@convention(c) (UnsafePointer<sf_context>) -> Int32).self)
        begin()
        return function(context.pointer)
    }

    /// Starts an invocation of `events` (their headers are the ones they carry: no messages).
    private func begin(_ events: UnsafePointer<sf_event_v1>? = nil, count: Int = 0) {
        invocations += 1
        context.begin(invocationID: invocations, events: events.map { UnsafeMutablePointer(mutating: $0) }, count: count)
    }
}
