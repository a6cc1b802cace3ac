import Database
import Logging
import ObjectStore
import StorageCore
import Synchronization

/// The ledger of one request holding the lease: numbers and progress go to Postgres under the
/// lease's epoch. With a checksum, new bytes are held back until the chunk is verified.
final class LeaseLedger: ResumableLedger {
    private let service: StorageService
    private let lease: ResumableLease
    private let uploadLength: Int64?
    private let defersBytes: Bool
    private let hold: LeaseHold
    /// The request's logger: the ledger's statements and clean-ups log with its id.
    private let logger: Logger
    private let state: Mutex<(committed: ResumablePieces, pending: ResumablePieces?)>

    init(
        service: StorageService, lease: ResumableLease, committed: ResumablePieces, uploadLength: Int64?, defersBytes: Bool,
        hold: LeaseHold, logger: Logger
    ) {
        self.service = service
        self.lease = lease
        self.uploadLength = uploadLength
        self.defersBytes = defersBytes
        self.hold = hold
        self.logger = logger
        self.state = Mutex((committed, nil))
    }

    /// What Postgres holds for the upload now.
    var committed: ResumablePieces { state.withLock { $0.committed } }

    func reserve(_ kind: ResumableNumberKind) async throws -> Int {
        try hold.check()
        return try await service.database.reserveResumableNumber(kind == .piece ? .piece : .part, lease: lease, logger: logger)
    }

    var defersRecords: Bool { defersBytes }

    func record(_ pieces: ResumablePieces) async throws {
        try hold.check()
        let held = state.withLock { state -> Bool in
            guard defersBytes, pieces.size != state.committed.size else { return false }
            state.pending = pieces
            return true
        }
        if !held { try await commit(pieces) }
    }

    /// Commits what the chunk left pending, and the length it declared.
    func settle() async throws {
        let (committed, pending) = state.withLock { ($0.committed, $0.pending) }
        let latest = pending ?? committed
        try await commit(latest)
    }

    /// Deletes the pieces of bytes that were never committed (a failed or mismatching chunk).
    func abandonPending() async {
        let orphans = state.withLock { state -> [String] in
            defer { state.pending = nil }
            guard let pending = state.pending else { return [] }
            let kept = Set(state.committed.pieces.map(\.key))
            return pending.pieces.map(\.key).filter { !kept.contains($0) }
        }
        await service.janitor.discard(orphans.map { .object($0) }, logger: logger)
    }

    private func commit(_ pieces: ResumablePieces) async throws {
        try await service.database.commitResumableProgress(
            lease, received: pieces.size, uploadLength: uploadLength, pieces: try ResumablePiecesJSON.encode(pieces), logger: logger)
        let dropped = state.withLock { state -> [String] in
            let dropped = state.committed.piecesDropped(by: pieces)
            state.committed = pieces
            state.pending = nil
            return dropped
        }
        await service.janitor.discard(dropped.map { .object($0) }, logger: logger)
    }
}

