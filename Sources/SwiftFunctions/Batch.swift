/// The events of one invocation of a `cardinality: MANY` function, in the order they were
/// consumed (records of one partition are in offset order): a collection over the host's array,
/// no record is copied. Make one from the entry point's `events` and `count`: `Batch(events, count)`.
public struct Batch: RandomAccessCollection {
    let base: Event?
    public let count: Int

    public init(_ events: Event?, _ count: Int) {
        self.base = events
        self.count = events == nil ? 0 : count
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(position: Int) -> Event {
        precondition(position >= 0 && position < count, "batch index out of range")
        return base! + position
    }
}
