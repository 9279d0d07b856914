import CRdKafka
import FunctionABI
import Glibc

/// The headers of the current invocation's events, parsed when the function asks for them (ABI
/// version 2: sf_context.headers, .header, .trace_context) and at most once per message.
///
/// librdkafka 2.0.2's `rd_kafka_message_headers` allocates and frees a parse buffer even for a
/// message without headers, so a version 1 event (which carries its headers) costs that for
/// every message; here only a function that reads headers pays it. The parsed list is cached in
/// the event's host-reserved slots (version 1's `headers`/`header_count`), which version 2 leaves
/// to the host: a non-null `headers` means parsed (``parsedEmpty`` when there were none).
final class HeadersOnDemand {
    /// The current invocation's events and, when they came from librdkafka, their messages
    /// (an operator's synthetic events carry their headers already).
    private var events: UnsafeMutablePointer<sf_event_v1>?
    private var count = 0
    private var messages: UnsafePointer<UnsafeMutablePointer<rd_kafka_message_t>>?
    /// Parsed lists live in blocks that never move until the next invocation: a list handed to
    /// the function stays valid while later ones are parsed.
    private var blocks: [(start: UnsafeMutablePointer<sf_header>, capacity: Int)] = []
    private var block = 0
    private var used = 0
    private static let blockCapacity = 64
    /// Marks "parsed, none": a non-null pointer no list starts at.
    private let parsedEmpty = UnsafePointer(UnsafeMutablePointer<sf_header>.allocate(capacity: 1))

    deinit {
        for block in blocks { block.start.deallocate() }
        parsedEmpty.deallocate()
    }

    @inline(__always)
    func begin(events: UnsafeMutablePointer<sf_event_v1>?, count: Int,
               messages: UnsafePointer<UnsafeMutablePointer<rd_kafka_message_t>>?) {
        self.events = events
        self.count = count
        self.messages = messages
        block = 0
        used = 0
    }

    /// The headers of `event`, which must be one the host passed to this invocation; none for
    /// any other pointer (a copy of an event, a document).
    func headers(of event: UnsafeRawPointer?) -> UnsafeBufferPointer<sf_header> {
        guard let index = index(of: event), let events else { return UnsafeBufferPointer(start: nil, count: 0) }
        if let cached = events[index].headers {
            return UnsafeBufferPointer(start: cached == parsedEmpty ? nil : cached, count: cached == parsedEmpty ? 0 : events[index].header_count)
        }
        guard let messages else { return UnsafeBufferPointer(start: nil, count: 0) } // synthetic: none
        let parsed = parse(messages[index])
        events[index].headers = parsed.count == 0 ? parsedEmpty : parsed.baseAddress
        events[index].header_count = parsed.count
        return parsed
    }

    /// The first header of `event` called `name`.
    func header(of event: UnsafeRawPointer?, named name: UnsafeRawBufferPointer) -> UnsafePointer<sf_header>? {
        let list = headers(of: event)
        for position in list.indices {
            let header = list[position]
            if header.name_length == name.count && (name.count == 0 || memcmp(header.name, name.baseAddress!, name.count) == 0) {
                return list.baseAddress! + position
            }
        }
        return nil
    }

    /// Where `event` is in the current invocation's events, when it is one of them.
    @inline(__always)
    private func index(of event: UnsafeRawPointer?) -> Int? {
        guard let event, let events else { return nil }
        let offset = event - UnsafeRawPointer(events)
        let stride = MemoryLayout<sf_event_v1>.stride
        guard offset >= 0, offset % stride == 0, offset / stride < count else { return nil }
        return offset / stride
    }

    private func parse(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> UnsafeBufferPointer<sf_header> {
        var handle: OpaquePointer? = nil
        guard rd_kafka_message_headers(message, &handle) == RD_KAFKA_RESP_ERR_NO_ERROR, let handle else {
            return UnsafeBufferPointer(start: nil, count: 0)
        }
        let available = rd_kafka_header_cnt(handle)
        guard available > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
        let start = reserve(available)
        var name: UnsafePointer<CChar>? = nil
        var value: UnsafeRawPointer? = nil
        var size = 0
        var count = 0
        for position in 0..<available where rd_kafka_header_get_all(handle, position, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            start[count] = sf_header(name: name, name_length: name.map { strlen($0) } ?? 0,
                                     value: value?.assumingMemoryBound(to: UInt8.self), value_length: value == nil ? 0 : size)
            count += 1
        }
        used += count
        return UnsafeBufferPointer(start: start, count: count)
    }

    /// Room for `needed` headers in one block, in the current block or the next (allocated the
    /// first time an invocation needs it, then reused).
    private func reserve(_ needed: Int) -> UnsafeMutablePointer<sf_header> {
        if block < blocks.count && used + needed <= blocks[block].capacity { return blocks[block].start + used }
        if block < blocks.count && used > 0 { block += 1 }
        while block < blocks.count && blocks[block].capacity < needed { block += 1 }
        if block == blocks.count {
            let capacity = max(needed, Self.blockCapacity)
            blocks.append((.allocate(capacity: capacity), capacity))
        }
        used = 0
        return blocks[block].start
    }
}
