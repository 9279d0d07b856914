/// Reads `length` bytes at `pointer` as a buffer; `nil` when the pointer is null (a null key,
/// value or header value, as opposed to an empty one).
@inlinable
func optionalBuffer(_ pointer: UnsafePointer<UInt8>?, _ length: Int) -> UnsafeRawBufferPointer? {
    guard let pointer else { return nil }
    return UnsafeRawBufferPointer(start: pointer, count: length)
}

@inlinable
func decodeUTF8(_ buffer: UnsafeRawBufferPointer?) -> String? {
    guard let buffer else { return nil }
    return String(decoding: buffer, as: UTF8.self)
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
