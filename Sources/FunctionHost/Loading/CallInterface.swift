import CFFI

/// A libffi call interface for one function's entry point, built once at load from its bindings
/// and reused for every invocation. Argument slots live at fixed addresses, so a call only
/// writes the slots that change (the event pointer, the batch size).
package final class CallInterface: @unchecked Sendable {
    package enum Parameter {
        case pointer
        case count // size_t
    }

    package let parameters: [Parameter]
    private let entryPoint: @convention(c) () -> Void
    private let cif: UnsafeMutablePointer<ffi_cif>
    private let types: UnsafeMutablePointer<UnsafeMutablePointer<ffi_type>?>
    private let slots: UnsafeMutablePointer<UInt64>
    private let values: UnsafeMutablePointer<UnsafeMutableRawPointer?>

    /// The entry point's parameters for a function's bindings: the trigger's (an event, or events
    /// and a count), one output handle per output binding, then the context.
    package static func parameters(cardinality: Cardinality, outputCount: Int) -> [Parameter] {
        (cardinality == .one ? [.pointer] : [.pointer, .count]) + Array(repeating: .pointer, count: outputCount) + [.pointer]
    }

    /// - Throws: `CallInterfaceError` when libffi refuses the signature.
    package init(entryPoint: UnsafeMutableRawPointer, parameters: [Parameter]) throws {
        self.parameters = parameters
        self.entryPoint = unsafeBitCast(entryPoint, to: (@convention(c) () -> Void).self)
        cif = .allocate(capacity: 1)
        types = .allocate(capacity: parameters.count)
        slots = .allocate(capacity: parameters.count)
        slots.initialize(repeating: 0, count: parameters.count)
        values = .allocate(capacity: parameters.count)
        for (index, parameter) in parameters.enumerated() {
            types[index] = parameter == .pointer ? cffi_type_pointer() : cffi_type_uint64()
            values[index] = UnsafeMutableRawPointer(slots + index)
        }
        let status = ffi_prep_cif(cif, cffi_default_abi(), UInt32(parameters.count), cffi_type_sint32(), types)
        guard status == FFI_OK else {
            throw CallInterfaceError(message: "libffi could not prepare a call with \(parameters.count) parameters (status \(status.rawValue))")
        }
    }

    deinit {
        cif.deallocate()
        types.deallocate()
        slots.deallocate()
        values.deallocate()
    }

    @inline(__always)
    package func setPointer(_ index: Int, _ pointer: UnsafeRawPointer?) {
        slots[index] = UInt64(UInt(bitPattern: pointer))
    }

    @inline(__always)
    package func setCount(_ index: Int, _ count: Int) {
        slots[index] = UInt64(count)
    }

    /// Calls the entry point with the current slots and returns its result.
    @inline(__always)
    package func call() -> Int32 {
        var result: UInt64 = 0 // ffi_arg: libffi widens small integer returns to a full register
        ffi_call(cif, entryPoint, &result, values)
        return Int32(truncatingIfNeeded: result)
    }
}

package struct CallInterfaceError: Error, CustomStringConvertible {
    package let message: String
    package var description: String { message }
}
