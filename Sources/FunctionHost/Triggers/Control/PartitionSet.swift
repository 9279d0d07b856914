/// A set of partition numbers as bits: the consuming thread asks whether a message's partition
/// is assigned once per message, and a `Set<Int32>` hashes for that (a few percent of a no-op
/// function's time). Iterates in ascending order.
struct PartitionSet: Sequence, Equatable {
    private var words: [UInt64] = []
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    func contains(_ partition: Int32) -> Bool {
        let word = Int(partition) >> 6
        return partition >= 0 && word < words.count && words[word] & (1 << UInt64(partition & 63)) != 0
    }

    mutating func insert(_ partition: Int32) {
        precondition(partition >= 0, "a partition number is never negative")
        let word = Int(partition) >> 6
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: word + 1 - words.count)) }
        let bit: UInt64 = 1 << UInt64(partition & 63)
        if words[word] & bit == 0 {
            words[word] |= bit
            count += 1
        }
    }

    mutating func remove(_ partition: Int32) {
        guard contains(partition) else { return }
        words[Int(partition) >> 6] &= ~(1 << UInt64(partition & 63))
        count -= 1
    }

    mutating func formUnion(_ partitions: some Sequence<Int32>) {
        for partition in partitions { insert(partition) }
    }

    mutating func subtract(_ partitions: some Sequence<Int32>) {
        for partition in partitions { remove(partition) }
    }

    func makeIterator() -> AnyIterator<Int32> {
        var word = 0
        var remaining = words.first ?? 0
        let words = self.words
        return AnyIterator {
            while remaining == 0 {
                word += 1
                guard word < words.count else { return nil }
                remaining = words[word]
            }
            let bit = remaining.trailingZeroBitCount
            remaining &= remaining - 1
            return Int32(word * 64 + bit)
        }
    }
}
