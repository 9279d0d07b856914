import Synchronization

/// Where a listener's consumer stands in its group, for `/admin/functions` and `/metrics`: the
/// group protocol, the member id, and the member's generation (classic: it grows with every
/// rebalance of the group) or member epoch (consumer protocol: it grows whenever the group's
/// target assignment changes, this member's part or not). Read by the consuming thread between
/// fetches, right after each assignment or revocation and once a second between them (an epoch
/// moves without a callback when only other members' partitions change).
struct GroupMembership: Sendable, Equatable {
    var groupProtocol: GroupProtocol
    var memberID: String
    var generation: Int32

    /// What the number is called under the protocol: `generation` or `memberEpoch`.
    var generationName: String { groupProtocol == .consumer ? "memberEpoch" : "generation" }

    /// The `group` object of a function in `/admin/functions`.
    var report: [String: Any] {
        ["protocol": groupProtocol.rawValue, "memberId": memberID, generationName: Int(generation)]
    }

    /// How often the consuming thread reads it between rebalances.
    static let refreshInterval: UInt64 = 1_000_000_000
}

extension TriggerListener {
    /// Consuming thread, between fetches: reads the membership when a second has passed since the
    /// last read, or a rebalance asked for it (``ListenerOperations/membershipReadAt`` 0).
    func refreshGroupMembership() {
        let now = monotonicNanoseconds()
        guard now &- operations.membershipReadAt >= GroupMembership.refreshInterval else { return }
        operations.membershipReadAt = now
        let member = consumer.groupMember()
        let membership = member.map { GroupMembership(groupProtocol: options.groupProtocol, memberID: $0.memberID, generation: $0.generation) }
        operations.membership.withLock { $0 = membership }
    }
}
