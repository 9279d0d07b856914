import CRdKafka
import Foundation
import Logging

/// One thread that calls the function, with a bounded queue of messages in front of it
/// (ordering `key` or `unordered`). Messages of one key always go to the same lane, so a lane
/// runs them in the order they were consumed, one at a time; lanes run side by side.
///
/// A failed message is retried by its lane, in place, through the ``AttemptEngine`` (the retry
/// policy, then the dead letter): later messages of the lane (the same keys, among others) wait
/// for it, as they must to stay in order, while the other lanes go on.
final class InvocationLane: @unchecked Sendable {
    let index: Int
    let capacity: Int
    let invoker: Invoker
    private let engine: AttemptEngine
    private unowned let dispatcher: ConcurrentDispatcher
    private let batchLimit: Int
    private let condition = NSCondition()
    // A ring of `capacity` entries: `count` of them from `head`. It owns the messages it holds:
    // they come in and go out as RDKafkaMessage (a move).
    private let ringMessages: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>>
    private let ringDispositions: UnsafeMutablePointer<Disposition>
    private var head = 0
    private var count = 0
    private var exiting = false
    /// The messages being attempted right now, owned by this lane's thread (filled under `condition`).
    private let work: HeldMessages
    private let finished = DispatchSemaphore(value: 0)

    init(index: Int, capacity: Int, batchLimit: Int, invoker: Invoker, engine: AttemptEngine, dispatcher: ConcurrentDispatcher) {
        self.index = index
        self.capacity = capacity
        self.batchLimit = batchLimit
        self.invoker = invoker
        self.engine = engine
        self.dispatcher = dispatcher
        ringMessages = .allocate(capacity: capacity)
        ringDispositions = .allocate(capacity: capacity)
        work = HeldMessages(reservingCapacity: max(batchLimit, 1))
    }

    deinit {
        // The ring is empty: the thread ends only once it is (exit), and nothing is queued after.
        ringMessages.deallocate()
        ringDispositions.deallocate()
    }

    var journal: InvocationJournal? { invoker.journal }

    func start(name: String) {
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Queues the message `take` hands over (called only once there is room), waiting up to
    /// `roomWait` seconds while the lane is full; false when it stayed full (the message is not
    /// taken, and the caller then pauses the partitions).
    func enqueue(_ disposition: Disposition, roomWait: Double, take: () -> RDKafkaMessage) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if count >= capacity {
            let deadline = Date().addingTimeInterval(roomWait)
            while count >= capacity {
                if !condition.wait(until: deadline) && count >= capacity { return false }
            }
        }
        let slot = (head + count) % capacity
        take().move(into: ringMessages + slot)
        ringDispositions[slot] = disposition
        count += 1
        // The lane's thread and the consuming thread wait on the same condition.
        if count == 1 { condition.broadcast() }
        return true
    }

    /// Messages waiting in the queue (not the ones being invoked).
    var queued: Int {
        condition.lock()
        defer { condition.unlock() }
        return count
    }

    /// Lets the thread end once its queue is empty; waits for it until `deadline`.
    func exit(deadline: DispatchTime) {
        condition.lock()
        exiting = true
        condition.signal()
        condition.unlock()
        _ = finished.wait(timeout: deadline)
    }

    // MARK: - The lane's thread

    private func run() {
        while let disposition = take() {
            work.reset()
            if disposition.isSkipped {
                // (Never queued: the consuming thread settles such a message at once.)
                work.messages.removeAll { dispatcher.settle($0) }
            } else if let refusal = dispatcher.admission.refusal(for: disposition, work.messages[0], decoder: invoker.decoder) {
                waitUntilSettled(engine.refuse(work, refusal) { dispatcher.settle($0) })
            } else {
                let outcome = work.messages.withPointers { invoker.attempt($0) }
                dispatcher.noteOutcome(outcome)
                waitUntilSettled(engine.afterAttempt(work, outcome) { dispatcher.settle($0) })
            }
            dispatcher.laneTookWork()
        }
    }

    /// Waits in place for each next step of the work (retries, dead letter) until it is all
    /// settled, or its partitions are given up.
    private func waitUntilSettled(_ progress: AttemptEngine.Progress) {
        var progress = progress
        while case .due(let at, _) = progress {
            guard dispatcher.wait(until: at, unlessGivingUp: &work.messages) else { return }
            progress = engine.next(work) { dispatcher.settle($0) }
        }
    }

    /// Waits for work; moves the next call's messages into `work`: one message, or for MANY
    /// up to `batchLimit` consecutive ones to invoke together. Nil when the lane is to end.
    private func take() -> Disposition? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 {
            if exiting { return nil }
            condition.wait()
        }
        let first = ringDispositions[head]
        work.messages.append(RDKafkaMessage(movingOutOf: ringMessages + head))
        var taken = 1
        if first == .invoke {
            while taken < batchLimit && taken < count {
                let slot = (head + taken) % capacity
                guard ringDispositions[slot] == .invoke else { break }
                work.messages.append(RDKafkaMessage(movingOutOf: ringMessages + slot))
                taken += 1
            }
        }
        head = (head + taken) % capacity
        if count == capacity { condition.broadcast() }
        count -= taken
        return first
    }
}
