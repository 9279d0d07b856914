import Foundation
import Logging

/// What one function keeps in the state directory so that a crash of its worker loses nothing
/// and is pinned on the message that caused it: the in-flight journal of the consuming thread,
/// the settlement journal, the crash counts per message. All absent when the host runs without
/// a supervisor (no ``TriggerListener/CrashProtection``).
struct CrashProtectionJournals {
    let invocations: InvocationJournal?
    let settlement: SettlementJournal?
    let crashes: CrashLedger?
    /// How often a message may crash the host before it is dead-lettered (`.max`: unprotected).
    let maxCrashesPerMessage: Int

    /// Opens (or creates) the function's journals in `protection`'s directory.
    /// - Parameter exactlyOnce: nothing settled may be committed outside a transaction, so no
    ///   settlement journal is kept (after a crash the aborted transaction is consumed again).
    init(_ protection: TriggerListener.CrashProtection?, function: FunctionConfiguration, subject: SettlementJournal.Subject,
         exactlyOnce: Bool, logger: Logger) throws {
        guard let protection else {
            invocations = nil
            settlement = nil
            crashes = nil
            maxCrashesPerMessage = .max
            return
        }
        invocations = try InvocationJournal(directory: protection.directory, function: function.name, subject: subject)
        settlement = exactlyOnce ? nil : try SettlementJournal(directory: protection.directory, function: function.name, subject: subject)
        crashes = CrashLedger(CrashRecords(directory: protection.directory, function: function.name, subject: subject.text))
        maxCrashesPerMessage = protection.maxCrashesPerMessage
        if let settlement, let reason = settlement.discarded {
            logger.info("'\(function.name)': the settlement journal \(settlement.url.lastPathComponent) was set aside: \(reason); nothing from it is applied")
        }
    }
}
