import Crypto
import Database
public import Foundation
import Logging
public import NIOCore
import ObjectStore
public import StorageCore
import Synchronization

/// Settings of resumable (TUS) uploads.
public struct ResumableSettings: Sendable {
    /// How long an upload lives after creation (`TUS_URL_EXPIRY_MS`).
    public var lifetime: Duration
    /// How long a request's lease lasts without renewal: the longest a crashed or partitioned
    /// holder can keep others waiting.
    public var leaseDuration: Duration
    /// How often a holder renews its lease and looks for release requests.
    public var leaseRenewal: Duration
    /// How long a holder asked to release may take to record what it received.
    public var releaseGrace: Duration
    /// How long a request waits for the current holder to let go before answering 423.
    public var lockWait: Duration
    /// How often a waiting request retries the lease.
    public var lockPoll: Duration

    public init(
        lifetime: Duration = .seconds(86_400), leaseDuration: Duration = .seconds(10), leaseRenewal: Duration = .seconds(1),
        releaseGrace: Duration = .seconds(2), lockWait: Duration = .seconds(5), lockPoll: Duration = .milliseconds(200)
    ) {
        self.lifetime = lifetime
        self.leaseDuration = leaseDuration
        self.leaseRenewal = leaseRenewal
        self.releaseGrace = releaseGrace
        self.lockWait = lockWait
        self.lockPoll = lockPoll
    }
}

/// Who acts on a resumable upload.
public enum ResumableAuthority: Sendable {
    /// A caller with a JWT: row-level security decides (the probe runs on create, PATCH, DELETE).
    case caller(Caller)
    /// A signed upload token (`x-signature`): row-level security was checked when it was minted;
    /// its owner and upsert apply.
    case signed(Caller, owner: String?, upsert: Bool)

    var caller: Caller {
        switch self {
        case .caller(let caller), .signed(let caller, _, _): caller
        }
    }
}

/// A new resumable upload, as parsed from a TUS POST.
public struct ResumableCreation: Sendable {
    public var bucketID: String
    public var name: String
    public var length: UploadLength
    public var contentType: String?
    /// Already in header form (`max-age=N` or `no-cache`).
    public var cacheControl: String
    public var userMetadata: JSONValue?
    /// `x-upsert: true` (ignored for signed uploads: the token decides).
    public var upsert: Bool

    public init(
        bucketID: String, name: String, length: UploadLength, contentType: String?, cacheControl: String,
        userMetadata: JSONValue?, upsert: Bool
    ) {
        self.bucketID = bucketID
        self.name = name
        self.length = length
        self.contentType = contentType
        self.cacheControl = cacheControl
        self.userMetadata = userMetadata
        self.upsert = upsert
    }
}

/// One PATCH (or the body of a creation-with-upload POST).
public struct ResumableChunk<Body: AsyncSequence & Sendable>: Sendable where Body.Element == ByteBuffer {
    public var offset: Int64
    /// `Upload-Length` on a PATCH of a deferred-length upload.
    public var uploadLength: Int64?
    public var contentLength: Int64?
    public var checksum: UploadChecksum?
    public var body: Body

    public init(offset: Int64, uploadLength: Int64?, contentLength: Int64?, checksum: UploadChecksum?, body: Body) {
        self.offset = offset
        self.uploadLength = uploadLength
        self.contentLength = contentLength
        self.checksum = checksum
        self.body = body
    }
}

/// Where a resumable upload stands, for TUS headers and the JSON progress route.
public struct ResumableStatus: Sendable, Equatable {
    public var id: ResumableUploadID
    public var offset: Int64
    public var length: Int64?
    public var expiresAt: Date
    public var isCompleted: Bool
    public var contentType: String
    public var cacheControl: String
    public var percent: Double?
}

extension StorageService {
    /// Creates an upload (TUS POST): bucket, size limit, row-level security and MIME type are
    /// checked before anything is stored. A zero-length upload is finished at once.
    public func createResumableUpload(
        _ creation: ResumableCreation, authority: ResumableAuthority, operation: StorageOperation
    ) async throws -> ResumableStatus {
        try BucketName.validate(creation.bucketID)
        try ObjectKey.validate(creation.name)
        try StoredHeaders.validate(contentType: creation.contentType, cacheControl: creation.cacheControl)
        let id = ResumableUploadID(bucketID: creation.bucketID, name: creation.name, version: UUID().uuidString.lowercased())
        // A key the backend cannot hold would fail only at the first PATCH, with the row made.
        do {
            try store.checkKey(backendKey(bucketID: id.bucketID, name: id.name, version: id.version))
        } catch {
            throw backendFailure(error, name: creation.name)
        }
        let caller = authority.caller
        let bucket = try await database.rolledBack(superuser(caller, operation)) { transaction in
            try await transaction.bucket(id: creation.bucketID)
        }
        guard let bucket else { throw StorageError.noSuchBucket }
        let limit = sizeLimit(for: bucket, name: creation.name)
        // Checks the declared length before anything exists.
        _ = try ResumableUpload.create(length: creation.length, sizeLimit: limit, expiresAt: .distantFuture)
        var declared: Int64?
        if case .known(let length) = creation.length { declared = length }
        let owner: Owner
        let upsert: Bool
        switch authority {
        case .caller(let caller):
            owner = caller.owner
            upsert = creation.upsert
            try await probeResumableWrite(
                bucketID: creation.bucketID, name: creation.name, mimeType: creation.contentType, length: declared,
                userMetadata: creation.userMetadata, upsert: upsert, owner: owner, caller: caller, operation: operation)
        case .signed(_, let tokenOwner, let tokenUpsert):
            owner = Owner(sub: tokenOwner)
            upsert = tokenUpsert
        }
        if let contentType = creation.contentType, !ObjectKey.isFolderPlaceholder(creation.name) {
            try AllowedMimeTypes.check(contentType, in: bucket.allowedMimeTypes)
        }
        let row = try await database.insertResumableUpload(
            NewResumableUpload(
                id: id, uploadLength: declared, sizeLimit: limit,
                contentType: creation.contentType ?? "application/octet-stream", cacheControl: creation.cacheControl,
                userMetadata: creation.userMetadata, upsert: upsert, ownerSub: owner.id, creator: Self.creator(authority),
                pieces: Self.encode(ResumablePieces())),
            lifetime: settings.resumable.lifetime)
        if declared == 0 {
            return try await withResumableLease(id) { lease, row, watch in
                try await self.finishResumableUpload(row, pieces: ResumablePieces(), lease: lease, watch: watch)
                return Self.status(row, received: 0, length: 0, completed: true)
            }
        }
        return Self.status(row)
    }

    /// Where an upload stands (TUS HEAD): 404 when there is none (or it is another's), 410
    /// once expired.
    public func resumableUploadStatus(_ id: ResumableUploadID, authority: ResumableAuthority) async throws -> ResumableStatus {
        guard var row = try await database.resumableUpload(id) else { throw TusErrors.notFound }
        try Self.checkReach(row, authority: authority)
        if row.leaseHeld, row.completedAt == nil {
            // A writer still streaming would make the offset stale as soon as it is sent. As
            // tusd does, a HEAD asks it to stop (it keeps what is durable) and waits, within the
            // lock wait, so the client resumes from where the upload really is.
            try await database.requestResumableRelease(id)
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: settings.resumable.lockWait)
            while row.leaseHeld, clock.now < deadline {
                try await Task.sleep(for: settings.resumable.lockPoll)
                guard let current = try await database.resumableUpload(id) else { throw TusErrors.notFound }
                row = current
            }
        }
        _ = try row.protocolState.status(at: row.databaseNow)
        return Self.status(row)
    }

    /// Appends one chunk (TUS PATCH) under the upload's lease. Bytes become the upload's only
    /// once durable and recorded; with `Upload-Checksum`, only once the whole chunk verified.
    /// The chunk that brings the last byte also writes the object row.
    public func appendToResumableUpload<Body>(
        _ id: ResumableUploadID, chunk: ResumableChunk<Body>, authority: ResumableAuthority, operation: StorageOperation
    ) async throws -> ResumableStatus {
        guard let current = try await database.resumableUpload(id) else { throw TusErrors.notFound }
        try Self.checkReach(current, authority: authority)
        // Cheap refusals first: no lease is taken (or released from another request) for these.
        _ = try current.protocolState.checkPatch(
            offset: chunk.offset, uploadLength: chunk.uploadLength, contentLength: chunk.contentLength, at: current.databaseNow)
        // A repeat of the finishing PATCH (its answer was lost): nothing to write, nothing to check.
        if current.completedAt != nil { return Self.status(current) }
        try await authorizeResumable(current, authority: authority, operation: operation)
        let answer = try await withResumableLease(id) { lease, row, watch -> ResumableStatus? in
            var state = row.protocolState
            let plan = try state.checkPatch(
                offset: chunk.offset, uploadLength: chunk.uploadLength, contentLength: chunk.contentLength,
                at: row.databaseNow)
            if state.phase == .completed { return Self.status(row) }
            let ledger = LeaseLedger(
                service: self, lease: lease, committed: try Self.decodePieces(row.pieces), uploadLength: plan.length,
                defersBytes: chunk.checksum != nil, watch: watch)
            let body = ResumableChunkBody(
                base: chunk.body, limit: plan.maximumBytes, watch: watch, checksum: chunk.checksum)
            let before = ledger.committed.size
            do {
                _ = try await uploads.admit {
                    try await store.receiveChunk(
                        body, length: chunk.contentLength, after: ledger.committed, target: target(row), ledger: ledger)
                }
                if let checksum = chunk.checksum, body.digest() != checksum.digest {
                    throw TusErrors.checksumMismatch
                }
                try await ledger.settle()
            } catch {
                await ledger.abandonPending()
                throw Self.chunkFailure(error, watch: watch, name: row.id.name, service: self)
            }
            try state.received(ledger.committed.size - before, plan: plan)
            if state.phase == .assembling {
                do {
                    try await self.finishResumableUpload(row, pieces: ledger.committed, lease: lease, watch: watch)
                } catch where watch.isLost {
                    // Every byte is recorded; only the lease went (its renewals ran late and the
                    // sweeper took the upload over). The object is this chunk's to report.
                    return nil
                }
                return Self.status(row, received: state.offset, length: state.length, completed: true)
            }
            return Self.status(row, received: state.offset, length: state.length, completed: false)
        }
        if let answer { return answer }
        return try await withResumableLease(id) { lease, row, watch in
            try await self.finishRecordedUpload(row, lease: lease, watch: watch)
            return Self.status(row, completed: true)
        }
    }

    /// Terminates an unfinished upload (TUS DELETE): its pieces and row go together.
    public func terminateResumableUpload(
        _ id: ResumableUploadID, authority: ResumableAuthority, operation: StorageOperation
    ) async throws {
        guard let current = try await database.resumableUpload(id) else { throw TusErrors.notFound }
        try Self.checkReach(current, authority: authority)
        try current.protocolState.checkTermination()
        try await authorizeResumable(current, authority: authority, operation: operation)
        try await withResumableLease(id) { lease, row, _ in
            try row.protocolState.checkTermination()
            try await self.removeResumableUpload(row, lease: lease)
        }
    }

    /// One pass of the background sweeper: removes expired uploads (pieces, then row), forgets
    /// finished ones whose time is up, and finishes uploads that hold every byte but whose
    /// writer went away before writing the object. Returns how many uploads it settled.
    @discardableResult
    public func sweepResumableUploads(limit: Int = 100) async -> Int {
        let candidates: [ResumableUploadID]
        do {
            // A holder gets a whole lease of slack past its lapse: one running late (renewals
            // waiting for the pool) is still finishing, and a takeover would cost it its answer.
            candidates = try await database.resumableUploadsNeedingAttention(
                limit: limit, leaseIdleFor: settings.resumable.leaseDuration)
        } catch {
            logger.warning("resumable upload sweep could not list uploads", metadata: ["error": "\(error)"])
            return 0
        }
        var settled = 0
        for id in candidates {
            do {
                try await withResumableLease(id, waitForRelease: false) { lease, row, watch in
                    let state = row.protocolState
                    if state.isExpired(at: row.databaseNow) {
                        try await self.removeResumableUpload(row, lease: lease)
                    } else if state.phase == .assembling {
                        try await self.finishRecordedUpload(row, lease: lease, watch: watch)
                    }
                }
                settled += 1
            } catch {
                logger.warning(
                    "resumable upload sweep skipped an upload", metadata: ["upload": "\(id)", "error": "\(error)"])
            }
        }
        return settled
    }

    // MARK: - Steps

    /// The RLS probe of a PATCH or DELETE, with the upload's declared type and length and its
    /// owner (the creator's, also when the service role continues it).
    private func authorizeResumable(
        _ row: ResumableUploadRow, authority: ResumableAuthority, operation: StorageOperation
    ) async throws {
        guard case .caller(let caller) = authority else { return }
        try await probeResumableWrite(
            bucketID: row.id.bucketID, name: row.id.name, mimeType: row.contentType, length: row.uploadLength,
            userMetadata: row.userMetadata, upsert: row.upsert, owner: Owner(sub: row.ownerSub), caller: caller,
            operation: operation)
    }

    static func creator(_ authority: ResumableAuthority) -> ResumableCreator {
        switch authority {
        case .caller(let caller): .caller(sub: caller.jwt?.sub, role: caller.role)
        case .signed: .signedToken
        }
    }

    /// Only the creator reaches an upload: the same `sub` (or the same role when the creator's
    /// token had none), or a signed token for uploads made with one; the service role reaches
    /// every upload. Anyone else hears what a missing upload answers.
    static func checkReach(_ row: ResumableUploadRow, authority: ResumableAuthority) throws {
        switch (authority, row.creator) {
        case (.caller(let caller), _) where caller.role == "service_role":
            return
        case (.caller(let caller), .caller(let sub?, _)) where caller.jwt?.sub == sub:
            return
        case (.caller(let caller), .caller(nil, let role)) where caller.jwt?.sub == nil && caller.role == role:
            return
        case (.signed, .signedToken):
            return
        default:
            throw TusErrors.notFound
        }
    }

    private func probeResumableWrite(
        bucketID: String, name: String, mimeType: String?, length: Int64?, userMetadata: JSONValue?, upsert: Bool,
        owner: Owner, caller: Caller, operation: StorageOperation
    ) async throws {
        let row = Self.probeRow(
            bucketID: bucketID, name: name, owner: owner, mimeType: mimeType, declaredLength: length,
            userMetadata: userMetadata)
        try await probe(row, upsert: upsert, caller: caller, operation: operation)
    }

    /// Writes the object from every piece and then its row, in the transaction that marks the
    /// upload finished. Losing a race to the same key (no upsert) removes this upload entirely.
    private func finishResumableUpload(
        _ row: ResumableUploadRow, pieces: ResumablePieces, lease: ResumableLease, watch: LeaseWatch
    ) async throws {
        watch.markFinishing()
        let ledger = LeaseLedger(
            service: self, lease: lease, committed: pieces, uploadLength: row.uploadLength, defersBytes: false, watch: watch)
        let info: ObjectInfo
        do {
            info = try await store.assemble(pieces, target: target(row), ledger: ledger)
        } catch {
            throw Self.chunkFailure(error, watch: watch, name: row.id.name, service: self)
        }
        let metadata = ObjectMetadata(
            eTag: info.eTag, size: info.size, mimetype: row.contentType, cacheControl: row.cacheControl,
            lastModified: Timestamp.iso8601(info.lastModified), contentLength: info.size, httpStatusCode: 200)
        let write = ObjectWrite(
            bucketID: row.id.bucketID, name: row.id.name, owner: Owner(sub: row.ownerSub), version: row.id.version,
            metadata: metadata.json, userMetadata: row.userMetadata ?? .object([:]))
        let session = systemSession(.tusPart)
        // The pieces are freed by the transaction that marks the upload finished. The assembled
        // object is not discarded when that transaction fails: the upload still owns it (a retry
        // or the sweeper finishes the upload, expiry removes it with the pieces).
        let pieceKeys = ledger.committed.pieces.map(\.key)
        let janitor = self.janitor
        let freed = RecordedCleanups()
        do {
            _ = try await commitNewVersion(write, upsert: row.upsert, session: session, discardOnFailure: false) { transaction in
                try await transaction.markResumableCompleted(lease)
                freed.add(try await janitor.record(pieceKeys.map { .object($0) }, in: transaction))
            }
        } catch let error as StorageError where error.code == .keyAlreadyExists {
            // The object's bytes are gone already; the pieces and the row follow.
            try? await removeResumableUpload(row, pieces: ledger.committed, lease: lease)
            throw error
        } catch {
            throw Self.chunkFailure(error, watch: watch, name: row.id.name, service: self)
        }
        await janitor.finish(freed.all, logger: logger)
    }

    /// Finishes an upload whose every byte is recorded but whose object its writer did not get
    /// to write (it went away, or lost the lease on the way); nothing to do once it is finished.
    private func finishRecordedUpload(_ row: ResumableUploadRow, lease: ResumableLease, watch: LeaseWatch) async throws {
        guard row.completedAt == nil else { return }
        guard row.protocolState.phase == .assembling else { throw TusErrors.released }
        try await finishResumableUpload(row, pieces: try Self.decodePieces(row.pieces), lease: lease, watch: watch)
    }

    /// Deletes the pieces, then the row (a backend that fails keeps the row for a later sweep).
    private func removeResumableUpload(_ row: ResumableUploadRow, pieces: ResumablePieces? = nil, lease: ResumableLease) async throws {
        if row.completedAt == nil {
            do {
                try await store.discard(pieces ?? Self.decodePieces(row.pieces), target: target(row))
            } catch {
                throw backendFailure(error, name: row.id.name)
            }
        }
        try await database.deleteResumableUpload(lease)
    }

    /// Runs `body` holding the upload's lease, renewing it meanwhile. A request that finds the
    /// lease taken asks the holder to let go (TUS 1.0 "request release") and waits up to
    /// `lockWait`, then answers 423.
    func withResumableLease<Result: Sendable>(
        _ id: ResumableUploadID, waitForRelease: Bool = true,
        _ body: @escaping @Sendable (ResumableLease, ResumableUploadRow, LeaseWatch) async throws -> Result
    ) async throws -> Result {
        let settings = self.settings.resumable
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: settings.lockWait)
        var asked = false
        while true {
            guard let attempt = try await database.acquireResumableLease(id, duration: settings.leaseDuration) else {
                throw TusErrors.notFound
            }
            if let lease = attempt.lease {
                return try await holding(lease, row: attempt.row, body)
            }
            guard waitForRelease, clock.now < deadline else { throw TusErrors.locked }
            if !asked {
                try await database.requestResumableRelease(id)
                asked = true
            }
            try await Task.sleep(for: settings.lockPoll)
        }
    }

    private func holding<Result: Sendable>(
        _ lease: ResumableLease, row: ResumableUploadRow,
        _ body: @escaping @Sendable (ResumableLease, ResumableUploadRow, LeaseWatch) async throws -> Result
    ) async throws -> Result {
        let watch = LeaseWatch()
        let outcome: Swift.Result<Result, any Error> = await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.keepLease(lease, watch: watch) }
            let outcome: Swift.Result<Result, any Error>
            do {
                outcome = .success(try await body(lease, row, watch))
            } catch {
                outcome = .failure(error)
            }
            group.cancelAll()
            return outcome
        }
        if !watch.isLost {
            try? await database.releaseResumableLease(lease)
        }
        return try outcome.get()
    }

    /// Renews the lease until cancelled. Asked to let go, it tells the request to stop reading
    /// and gives it `releaseGrace` to record what it has; then (or if the request is stalled)
    /// it releases the lease itself, after which the request's writes are refused.
    private func keepLease(_ lease: ResumableLease, watch: LeaseWatch) async {
        let clock = ContinuousClock()
        var stopAsked: ContinuousClock.Instant?
        var renewed = clock.now
        while true {
            do {
                try await Task.sleep(for: settings.resumable.leaseRenewal)
            } catch {
                return
            }
            do {
                let releaseRequested = try await database.renewResumableLease(lease, duration: settings.resumable.leaseDuration)
                if clock.now - renewed > settings.resumable.leaseDuration {
                    // Others could have taken it meanwhile (nobody did): the pool or machine is overloaded.
                    logger.warning(
                        "renewed a resumable upload lease after it had lapsed",
                        metadata: ["upload": "\(lease.uploadID)", "since_renewal": "\(clock.now - renewed)"])
                }
                renewed = clock.now
                if releaseRequested, !watch.isFinishing {
                    if stopAsked == nil {
                        watch.requestStop()
                        stopAsked = clock.now
                    } else if let asked = stopAsked, clock.now - asked >= settings.resumable.releaseGrace {
                        watch.markLost()
                        try? await database.releaseResumableLease(lease)
                        return
                    }
                }
            } catch is ResumableLeaseLost {
                logger.warning("a resumable upload lease was taken over", metadata: ["upload": "\(lease.uploadID)"])
                watch.markLost()
                return
            } catch {
                // The request is over (its renewal was cancelled mid-flight): nothing went wrong.
                if Task.isCancelled { return }
                // A database hiccup: try again next round; the lease lapses if it lasts.
                logger.warning("could not renew a resumable upload lease", metadata: ["upload": "\(lease.uploadID)", "error": "\(error)"])
            }
        }
    }

    /// What a failed chunk tells the client.
    private static func chunkFailure(_ error: any Error, watch: LeaseWatch, name: String, service: StorageService) -> any Error {
        // A write refused by the epoch fence: the lease is another's, whether or not a renewal saw it yet.
        if error is ResumableLeaseLost { watch.markLost() }
        if watch.stopRequested { return TusErrors.released }
        // A writer that lost its lease but still runs holds the data file: try again later.
        if (error as? ObjectStoreError)?.code == .busy { return TusErrors.locked }
        return service.backendFailure(error, name: name)
    }

    func target(_ row: ResumableUploadRow) -> ResumableTarget {
        ResumableTarget(
            objectKey: backendKey(bucketID: row.id.bucketID, name: row.id.name, version: row.id.version),
            piecePrefix: "__resumable/\(settings.tenantID)/\(row.id.version)",
            contentType: row.contentType, cacheControl: row.cacheControl)
    }

    /// The service-role session of work no request drives (finishing an upload in the sweeper).
    func systemSession(_ operation: StorageOperation) -> DatabaseSession {
        Caller(jwt: nil, request: RequestFacts(headers: "{}", method: "", path: "")).session(operation)
            .asServiceRole(serviceKey: settings.serviceKey)
    }

    static func status(_ row: ResumableUploadRow, received: Int64? = nil, length: Int64? = nil, completed: Bool? = nil) -> ResumableStatus {
        let state = ResumableUpload(
            length: length ?? row.uploadLength, offset: received ?? row.received, sizeLimit: row.sizeLimit,
            expiresAt: row.expiresAt, isCompleted: completed ?? (row.completedAt != nil))
        return ResumableStatus(
            id: row.id, offset: state.offset, length: state.length, expiresAt: row.expiresAt, isCompleted: state.isCompleted,
            contentType: row.contentType, cacheControl: row.cacheControl, percent: state.percent)
    }

    static func encode(_ pieces: ResumablePieces) -> String {
        String(decoding: try! JSONEncoder().encode(pieces), as: UTF8.self)
    }

    static func decodePieces(_ json: String) throws -> ResumablePieces {
        if json == "{}" { return ResumablePieces() }
        do {
            return try JSONDecoder().decode(ResumablePieces.self, from: Data(json.utf8))
        } catch {
            throw StorageError.internalError("a resumable upload's state is unreadable")
        }
    }
}

/// How a request's hold on its lease stands. Asked to release, it stops reading its body but may
/// still record what it has; once the lease is lost, nothing more is recorded.
final class LeaseWatch: Sendable {
    private static let holding: UInt8 = 0
    private static let stopping: UInt8 = 1
    private static let lost: UInt8 = 2

    private let state = Atomic<UInt8>(LeaseWatch.holding)
    private let finishing = Atomic<Bool>(false)

    /// Another request asked for the upload: stop reading.
    func requestStop() {
        _ = state.compareExchange(expected: Self.holding, desired: Self.stopping, ordering: .acquiringAndReleasing)
    }

    func markLost() { state.store(Self.lost, ordering: .releasing) }

    /// Every byte is in: the request is writing the object, and release requests wait for it.
    func markFinishing() { finishing.store(true, ordering: .releasing) }

    var stopRequested: Bool { state.load(ordering: .acquiring) != Self.holding }
    var isLost: Bool { state.load(ordering: .acquiring) == Self.lost }
    var isFinishing: Bool { finishing.load(ordering: .acquiring) }

    /// For writes: refused once the lease is lost.
    func check() throws {
        if isLost { throw ResumableLeaseLost() }
    }
}

/// The ledger of one request holding the lease: numbers and progress go to Postgres under the
/// lease's epoch. With a checksum, new bytes are held back until the chunk is verified.
final class LeaseLedger: ResumableLedger {
    private let service: StorageService
    private let lease: ResumableLease
    private let uploadLength: Int64?
    private let defersBytes: Bool
    private let watch: LeaseWatch
    private let state: Mutex<(committed: ResumablePieces, pending: ResumablePieces?)>

    init(
        service: StorageService, lease: ResumableLease, committed: ResumablePieces, uploadLength: Int64?, defersBytes: Bool,
        watch: LeaseWatch
    ) {
        self.service = service
        self.lease = lease
        self.uploadLength = uploadLength
        self.defersBytes = defersBytes
        self.watch = watch
        self.state = Mutex((committed, nil))
    }

    /// What Postgres holds for the upload now.
    var committed: ResumablePieces { state.withLock { $0.committed } }

    func reserve(_ kind: ResumableNumberKind) async throws -> Int {
        try watch.check()
        return try await service.database.reserveResumableNumber(kind == .piece ? .piece : .part, lease: lease)
    }

    var defersRecords: Bool { defersBytes }

    func record(_ pieces: ResumablePieces) async throws {
        try watch.check()
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
        await service.janitor.discard(orphans.map { .object($0) })
    }

    private func commit(_ pieces: ResumablePieces) async throws {
        try await service.database.commitResumableProgress(
            lease, received: pieces.size, uploadLength: uploadLength, pieces: StorageService.encode(pieces))
        let dropped = state.withLock { state -> [String] in
            let dropped = state.committed.piecesDropped(by: pieces)
            state.committed = pieces
            state.pending = nil
            return dropped
        }
        await service.janitor.discard(dropped.map { .object($0) })
    }
}

/// A chunk's body as the store reads it: at most the bytes the upload may still take, stopped
/// when the lease goes, and hashed when the client sent a checksum.
final class ResumableChunkBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer

    private let base: Base
    private let limit: Int64
    private let watch: LeaseWatch
    private let hasher: Mutex<ChunkHasher?>

    init(base: Base, limit: Int64, watch: LeaseWatch, checksum: UploadChecksum?) {
        self.base = base
        self.limit = limit
        self.watch = watch
        self.hasher = Mutex(checksum.map { ChunkHasher($0.algorithm) })
    }

    /// The digest of every byte read (checksum requests only).
    func digest() -> [UInt8]? {
        hasher.withLock { $0?.finalize() }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let owner: ResumableChunkBody
        var count: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            if owner.watch.stopRequested { throw TusErrors.released }
            guard let chunk = try await base.next() else { return nil }
            if owner.watch.stopRequested { throw TusErrors.released }
            count += Int64(chunk.readableBytes)
            if count > owner.limit { throw TusErrors.maxSizeExceeded }
            owner.hasher.withLock { hasher in
                chunk.withUnsafeReadableBytes { hasher?.update($0) }
            }
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), owner: self) }
}

/// One of the checksum algorithms TUS clients use.
struct ChunkHasher: Sendable {
    private enum State: Sendable {
        case sha256(SHA256)
        case sha1(Insecure.SHA1)
        case md5(Insecure.MD5)
    }

    private var state: State

    init(_ algorithm: UploadChecksum.Algorithm) {
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha1: state = .sha1(Insecure.SHA1())
        case .md5: state = .md5(Insecure.MD5())
        }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .sha256(var hash): hash.update(bufferPointer: bytes); state = .sha256(hash)
        case .sha1(var hash): hash.update(bufferPointer: bytes); state = .sha1(hash)
        case .md5(var hash): hash.update(bufferPointer: bytes); state = .md5(hash)
        }
    }

    func finalize() -> [UInt8] {
        switch state {
        case .sha256(let hash): Array(hash.finalize())
        case .sha1(let hash): Array(hash.finalize())
        case .md5(let hash): Array(hash.finalize())
        }
    }
}
