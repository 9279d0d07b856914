/// The events of one invocation of a `cardinality: MANY` function, in the order they were
/// consumed (records of one partition are in offset order). No record is copied.
public struct Batch: RandomAccessCollection {
    let base: UnsafePointer<sf_event>?
    public let count: Int

    init(base: UnsafePointer<sf_event>?, count: Int) {
        self.base = base
        self.count = base == nil ? 0 : count
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(position: Int) -> Event {
        precondition(position >= 0 && position < count, "batch index out of range")
        return Event(base! + position)
    }
}
