import Database
import Logging
import StorageCore
import Synchronization

/// The I/O around the lease protocol: `LeaseHolderStateMachine` and `LeaseWaitStateMachine`
/// decide, these functions sleep, call Postgres and log what the machines return.
extension StorageService {
    /// Runs `body` holding the upload's lease, renewing it meanwhile. A request that finds the
    /// lease taken asks the holder to let go (TUS 1.0 "request release") and waits up to
    /// `lockWait`, then answers 423; the sweeper (`waitForRelease: false`) skips a held upload.
    func withResumableLease<Result: Sendable>(
        _ id: ResumableUploadID, waitForRelease: Bool = true, logger: Logger,
        _ body: @escaping @Sendable (ResumableLease, ResumableUploadRow, LeaseHold) async throws -> Result
    ) async throws -> Result {
        let settings = self.settings.resumable
        let clock = ContinuousClock()
        var wait = LeaseWaitStateMachine(deadline: waitForRelease ? clock.now.advanced(by: settings.lockWait) : clock.now)
        while true {
            guard let attempt = try await database.acquireResumableLease(id, duration: settings.leaseDuration, logger: logger) else {
                throw TusErrors.notFound
            }
            if let lease = attempt.lease {
                return try await holding(lease, row: attempt.row, logger: logger, body)
            }
            switch wait.heldByAnother(at: clock.now) {
            case .askReleaseThenPoll:
                try await database.requestResumableRelease(id, logger: logger)
                try await Task.sleep(for: settings.lockPoll)
            case .poll:
                try await Task.sleep(for: settings.lockPoll)
            case .giveUp:
                throw TusErrors.locked
            }
        }
    }

    /// A HEAD on an upload a writer is streaming into: as tusd does, it asks the writer to stop
    /// (it keeps what is durable) and waits, within the lock wait, so the client resumes from
    /// where the upload really is. Returns the row as it stands when the lease is free or the wait is over.
    func waitForResumableWriter(_ row: ResumableUploadRow, logger: Logger) async throws -> ResumableUploadRow {
        let clock = ContinuousClock()
        var wait = LeaseWaitStateMachine(deadline: clock.now.advanced(by: settings.resumable.lockWait))
        var current = row
        while current.leaseHeld, current.completedAt == nil {
            switch wait.heldByAnother(at: clock.now) {
            case .askReleaseThenPoll:
                try await database.requestResumableRelease(current.id, logger: logger)
            case .poll:
                break
            case .giveUp:
                return current
            }
            try await Task.sleep(for: settings.resumable.lockPoll)
            guard let latest = try await database.resumableUpload(current.id, logger: logger) else { throw TusErrors.notFound }
            current = latest
        }
        return current
    }

    private func holding<Result: Sendable>(
        _ lease: ResumableLease, row: ResumableUploadRow, logger: Logger,
        _ body: @escaping @Sendable (ResumableLease, ResumableUploadRow, LeaseHold) async throws -> Result
    ) async throws -> Result {
        let hold = LeaseHold(timing: .init(leaseDuration: settings.resumable.leaseDuration, releaseGrace: settings.resumable.releaseGrace))
        let outcome: Swift.Result<Result, any Error> = await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.keepLease(lease, hold: hold, logger: logger) }
            let outcome: Swift.Result<Result, any Error>
            do {
                outcome = .success(try await body(lease, row, hold))
            } catch {
                outcome = .failure(error)
            }
            group.cancelAll()
            return outcome
        }
        if hold.requestEnded() == .release {
            try? await database.releaseResumableLease(lease, logger: logger)
        }
        return try outcome.get()
    }

    /// Renews the lease every `leaseRenewal` until cancelled or told to stop.
    private func keepLease(_ lease: ResumableLease, hold: LeaseHold, logger: Logger) async {
        let metadata: Logger.Metadata = ["upload": "\(lease.uploadID)"]
        while true {
            do {
                try await Task.sleep(for: settings.resumable.leaseRenewal)
            } catch {
                return
            }
            let action: LeaseHolderStateMachine.RenewalAction
            do {
                let releaseRequested = try await database.renewResumableLease(lease, duration: settings.resumable.leaseDuration, logger: logger)
                let decision = hold.renewed(releaseRequested: releaseRequested)
                if let late = decision.lateBy {
                    logger.warning(
                        "renewed a resumable upload lease after it had lapsed", metadata: metadata.merging(["late_by": "\(late)"]) { $1 })
                }
                action = decision.action
            } catch is ResumableLeaseLost {
                logger.warning("a resumable upload lease was taken over", metadata: metadata)
                action = hold.renewalFenced()
            } catch {
                // The request is over (its renewal was cancelled mid-flight): nothing went wrong.
                if Task.isCancelled { return }
                logger.warning(
                    "could not renew a resumable upload lease", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                action = hold.renewalFailed()
            }
            switch action {
            case .renewLater, .stopReading:
                continue
            case .releaseAndStop:
                try? await database.releaseResumableLease(lease, logger: logger)
                return
            case .stop:
                return
            }
        }
    }
}

/// One request's `LeaseHolderStateMachine`, shared by the request (which reads its body and
/// records) and the renewal loop running beside it.
final class LeaseHold: Sendable {
    private let machine: Mutex<LeaseHolderStateMachine>

    init(timing: LeaseHolderStateMachine.Timing) {
        machine = Mutex(LeaseHolderStateMachine(acquiredAt: .now, timing: timing))
    }

    func renewed(releaseRequested: Bool) -> LeaseHolderStateMachine.RenewalDecision {
        machine.withLock { $0.renewalSucceeded(releaseRequested: releaseRequested, at: .now) }
    }

    func renewalFenced() -> LeaseHolderStateMachine.RenewalAction { machine.withLock { $0.renewalFenced() } }
    func renewalFailed() -> LeaseHolderStateMachine.RenewalAction { machine.withLock { $0.renewalFailed() } }
    func writeFenced() { machine.withLock { $0.writeFenced() } }
    /// Every byte is in: the request is writing the object, and release requests wait for it.
    func allBytesReceived() { machine.withLock { $0.allBytesReceived() } }
    func requestEnded() -> LeaseHolderStateMachine.EndAction { machine.withLock { $0.requestEnded() } }

    var stopRequested: Bool { machine.withLock { $0.stopRequested } }
    var isLost: Bool { machine.withLock { $0.isLost } }

    /// For writes: refused once the lease is another's.
    func check() throws {
        if !machine.withLock({ $0.mayRecord }) { throw ResumableLeaseLost() }
    }
}
