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
