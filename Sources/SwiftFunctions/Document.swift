/// The trigger's records as one JSON document in another platform's event shape: the parameter of
/// an entry point whose trigger sets `eventFormat` (azure, aws or tencent). Valid until the entry
/// point returns.
public typealias Document = UnsafePointer<sf_document>

extension UnsafePointer where Pointee == sf_document {
    /// A copy of the whole document, as the platform would have handed it to the function.
    public var json: String { decodeUTF8(pointee.event.value, pointee.event.value_length) ?? "" }
    /// The document's UTF-8 bytes, in place (a view that cannot be kept past the call).
    public var bytes: RawSpan? {
        @_lifetime(borrow self)
        get { view(pointee.event.value, pointee.event.value_length, borrowing: self) }
    }
    /// The topic, partition and offset of the document's first record.
    public var topic: String { decodeText(pointee.event.topic, pointee.event.topic_length) }
    public var partition: Int32 { pointee.event.partition }
    public var offset: Int64 { pointee.event.offset }
}
