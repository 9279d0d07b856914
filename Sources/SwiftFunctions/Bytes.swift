#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A view of `length` bytes at `pointer` that lives no longer than `owner` (the event or header
/// pointer the function was handed); `nil` when the pointer is null (a null key, value or header
/// value, as opposed to an empty one).
@_lifetime(borrow owner)
@inlinable
func view<Owner>(_ pointer: UnsafePointer<UInt8>?, _ length: Int, borrowing owner: borrowing Owner) -> RawSpan? {
    guard let pointer else { return nil }
    let span = RawSpan(_unsafeStart: pointer, byteCount: length)
    return _overrideLifetime(span, borrowing: owner)
}

@inlinable
func decodeUTF8(_ pointer: UnsafePointer<UInt8>?, _ length: Int) -> String? {
    guard let pointer else { return nil }
    return String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
}

@inlinable
func copyBytes(_ pointer: UnsafePointer<UInt8>?, _ length: Int) -> [UInt8]? {
    guard let pointer else { return nil }
    return Array(UnsafeBufferPointer(start: pointer, count: length))
}

@inlinable
func copyData(_ pointer: UnsafePointer<UInt8>?, _ length: Int) -> Data? {
    guard let pointer else { return nil }
    return Data(bytes: pointer, count: length)
}

/// Text that is not NUL-terminated (a topic, a header name); empty for a null pointer.
@inlinable
func decodeText(_ pointer: UnsafePointer<CChar>?, _ length: Int) -> String {
    guard let pointer, length > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
}

/// Calls `body` with `text` as UTF-8 bytes (pointer and length), without copying when it can.
@inlinable
func withUTF8Text<R>(_ text: String, _ body: (UnsafePointer<CChar>?, Int) -> R) -> R {
    var text = text
    return text.withUTF8 { utf8 in
        utf8.withMemoryRebound(to: CChar.self) { body($0.baseAddress, $0.count) }
    }
}
