import Database
import Foundation
public import Logging
import ObjectStore
public import StorageCore
import Telemetry
import Tracing

extension StorageService {
    /// Creates an upload (TUS POST): bucket, size limit, row-level security and MIME type are
    /// checked before anything is stored. A zero-length upload is finished at once. With
    /// `firstChunk` (creation-with-upload) the body is appended as the first PATCH would be; if
    /// that fails the upload is removed again, since the error answer carries no `Location` and
    /// the client could neither resume nor terminate it.
    public func createResumableUpload<Body>(
        _ creation: ResumableCreation, firstChunk: ResumableChunk<Body>?, authority: ResumableAuthority
    ) async throws -> ResumableStatus {
        let status = try await registerResumableUpload(creation, authority: authority)
        guard let firstChunk, !status.isCompleted else { return status }
        do {
            return try await appendToResumableUpload(status.id, chunk: firstChunk, authority: authority)
        } catch {
            try? await terminateResumableUpload(status.id, authority: authority)
            throw error
        }
    }

    /// The checks of a creation, then the upload's row (and, at length 0, its object).
    private func registerResumableUpload(
        _ creation: ResumableCreation, authority: ResumableAuthority
    ) async throws -> ResumableStatus {
        let operation = authority.operation(.create)
        let logger = authority.logger
        let requestID = authority.caller.requestID
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
                pieces: try ResumablePiecesJSON.encode(ResumablePieces())),
            lifetime: settings.resumable.lifetime, logger: logger)
        if declared == 0 {
            let finished = FinishedVersion()
            let status = try await withResumableLease(id, logger: logger) { lease, row, hold in
                var state = row.protocolState
                finished.set(
                    try await self.finishResumableUpload(row, pieces: ResumablePieces(), lease: lease, hold: hold, requestID: requestID, logger: logger))
                state.markCompleted()
                return Self.status(row, state)
            }
            return try await settle(finished, status: status, authority: authority)
        }
        return Self.status(row, row.protocolState)
    }

    /// Where an upload stands (TUS HEAD): 404 when there is none (or it is another's), 410
    /// once expired.
    public func resumableUploadStatus(_ id: ResumableUploadID, authority: ResumableAuthority) async throws -> ResumableStatus {
        let logger = authority.logger
        guard let found = try await database.resumableUpload(id, logger: logger) else { throw TusErrors.notFound }
        try Self.checkReach(found, authority: authority)
        // A writer still streaming would make the offset stale as soon as it is sent.
        let row = try await waitForResumableWriter(found, logger: logger)
        return Self.status(row, try row.protocolState.status(at: row.databaseNow))
    }

    /// Appends one chunk (TUS PATCH) under the upload's lease. Bytes become the upload's only
    /// once durable and recorded; with `Upload-Checksum`, only once the whole chunk verified.
    /// The chunk that brings the last byte also writes the object row.
    public func appendToResumableUpload<Body>(
        _ id: ResumableUploadID, chunk: ResumableChunk<Body>, authority: ResumableAuthority
    ) async throws -> ResumableStatus {
        try await Telemetry.withSpan("tus.chunk", logger: authority.logger) { span in
            span.attributes["tus.offset"] = chunk.offset
            span.attributes["tus.chunk_length"] = chunk.contentLength
            let status = try await appendChunk(id, chunk: chunk, authority: authority)
            span.attributes["tus.new_offset"] = status.offset
            return status
        }
    }

    private func appendChunk<Body>(
        _ id: ResumableUploadID, chunk: ResumableChunk<Body>, authority: ResumableAuthority
    ) async throws -> ResumableStatus {
        let operation = authority.operation(.part)
        let logger = authority.logger
        let requestID = authority.caller.requestID
        guard let current = try await database.resumableUpload(id, logger: logger) else { throw TusErrors.notFound }
        try Self.checkReach(current, authority: authority)
        // Cheap refusals first: no lease is taken (or released from another request) for these.
        _ = try current.protocolState.checkPatch(
            offset: chunk.offset, uploadLength: chunk.uploadLength, contentLength: chunk.contentLength, at: current.databaseNow)
        // A repeat of the finishing PATCH (its answer was lost): nothing to write, nothing to check.
        if current.completedAt != nil { return Self.status(current, current.protocolState) }
        try await authorizeResumable(current, authority: authority, operation: operation)
        let finished = FinishedVersion()
        let answer = try await withResumableLease(id, logger: logger) { lease, row, hold -> ResumableStatus? in
            var state = row.protocolState
            let plan = try state.checkPatch(
                offset: chunk.offset, uploadLength: chunk.uploadLength, contentLength: chunk.contentLength,
                at: row.databaseNow)
            if state.phase == .completed { return Self.status(row, state) }
            let ledger = LeaseLedger(
                service: self, lease: lease, committed: try ResumablePiecesJSON.decode(row.pieces), uploadLength: plan.length,
                defersBytes: chunk.checksum != nil, hold: hold, logger: logger)
            let body = ResumableChunkBody(base: chunk.body, plan: plan, hold: hold, checksum: chunk.checksum)
            let before = ledger.committed.size
            do {
                _ = try await uploads.admit {
                    try await store.receiveChunk(
                        body, length: chunk.contentLength, after: ledger.committed, target: target(row), ledger: ledger, logger: logger)
                }
                if let checksum = chunk.checksum, body.digest() != checksum.digest {
                    throw TusErrors.checksumMismatch
                }
                try await ledger.settle()
            } catch {
                await ledger.abandonPending()
                throw Self.chunkFailure(error, hold: hold, name: row.id.name, service: self)
            }
            try state.received(ledger.committed.size - before, plan: plan)
            if state.phase == .assembling {
                do {
                    finished.set(
                        try await self.finishResumableUpload(row, pieces: ledger.committed, lease: lease, hold: hold, requestID: requestID, logger: logger))
                } catch where hold.isLost {
                    // Every byte is recorded; only the lease went (its renewals ran late and the
                    // sweeper took the upload over). The object is this chunk's to report.
                    return nil
                }
                state.markCompleted()
            }
            return Self.status(row, state)
        }
        if let answer { return try await settle(finished, status: answer, authority: authority) }
        let status = try await withResumableLease(id, logger: logger) { lease, row, hold in
            var state = row.protocolState
            finished.set(try await self.finishRecordedUpload(row, lease: lease, hold: hold, requestID: requestID, logger: logger))
            state.markCompleted()
            return Self.status(row, state)
        }
        return try await settle(finished, status: status, authority: authority)
    }

    /// After the lease is released: the finishing chunk of an upload to a processed bucket
    /// waits for its steps (a rejection throws ObjectRejected; still running marks the status).
    private func settle(_ finished: FinishedVersion, status: ResumableStatus, authority: ResumableAuthority) async throws -> ResumableStatus {
        guard let version = finished.value else { return status }
        var status = status
        if case .processing = try await settle(version, caller: authority.caller) { status.stillProcessing = true }
        return status
    }

    /// Terminates an unfinished upload (TUS DELETE): its pieces and row go together.
    public func terminateResumableUpload(_ id: ResumableUploadID, authority: ResumableAuthority) async throws {
        let operation = authority.operation(.delete)
        let logger = authority.logger
        guard let current = try await database.resumableUpload(id, logger: logger) else { throw TusErrors.notFound }
        try Self.checkReach(current, authority: authority)
        try current.protocolState.checkTermination()
        try await authorizeResumable(current, authority: authority, operation: operation)
        try await withResumableLease(id, logger: logger) { lease, row, _ in
            try row.protocolState.checkTermination()
            try await self.removeResumableUpload(row, lease: lease, logger: logger)
        }
    }

    /// One pass of the background sweeper: removes expired uploads (pieces, then row), forgets
    /// finished ones whose time is up, and finishes uploads that hold every byte but whose
    /// writer went away before writing the object. Returns how many uploads it settled.
    @discardableResult
    public func sweepResumableUploads(limit: Int = 100, logger: Logger) async -> Int {
        let requestID: String? = nil
        let candidates: [ResumableUploadID]
        do {
            // A holder gets a whole lease of slack past its lapse: one running late (renewals
            // waiting for the pool) is still finishing, and a takeover would cost it its answer.
            candidates = try await database.resumableUploadsNeedingAttention(
                limit: limit, leaseIdleFor: settings.resumable.leaseDuration, logger: logger)
        } catch {
            logger.warning("resumable upload sweep could not list uploads", metadata: ["error": "\(error)"])
            return 0
        }
        var settled = 0
        for id in candidates {
            do {
                try await withResumableLease(id, waitForRelease: false, logger: logger) { lease, row, hold in
                    let state = row.protocolState
                    if state.isExpired(at: row.databaseNow) {
                        try await self.removeResumableUpload(row, lease: lease, logger: logger)
                    } else if state.phase == .assembling {
                        try await self.finishRecordedUpload(row, lease: lease, hold: hold, requestID: requestID, logger: logger)
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
        _ row: ResumableUploadRow, pieces: ResumablePieces, lease: ResumableLease, hold: LeaseHold, requestID: String?,
        logger: Logger
    ) async throws -> NewVersion {
        hold.allBytesReceived()
        let ledger = LeaseLedger(
            service: self, lease: lease, committed: pieces, uploadLength: row.uploadLength, defersBytes: false, hold: hold, logger: logger)
        let info: ObjectInfo
        do {
            info = try await store.assemble(pieces, target: target(row), ledger: ledger, logger: logger)
        } catch {
            throw Self.chunkFailure(error, hold: hold, name: row.id.name, service: self)
        }
        let metadata = ObjectMetadata(
            eTag: info.eTag, size: info.size, mimetype: row.contentType, cacheControl: row.cacheControl,
            lastModified: Timestamp.iso8601(info.lastModified), contentLength: info.size, httpStatusCode: 200)
        let write = ObjectWrite(
            bucketID: row.id.bucketID, name: row.id.name, owner: Owner(sub: row.ownerSub), version: row.id.version,
            metadata: metadata.json, userMetadata: row.userMetadata ?? .object([:]))
        let session = systemSession(.tusPart, logger: logger)
        // The pieces are freed by the transaction that marks the upload finished. The assembled
        // object is not discarded when that transaction fails: the upload still owns it (a retry
        // or the sweeper finishes the upload, expiry removes it with the pieces).
        let pieceKeys = ledger.committed.pieces.map(\.key)
        let janitor = self.janitor
        let freed = RecordedCleanups()
        let version: NewVersion
        do {
            version = try await commitNewVersion(
                write, upsert: row.upsert, session: session, event: .upload(.resumable, route: .post), requestID: requestID,
                discardOnFailure: false
            ) { transaction in
                try await transaction.markResumableCompleted(lease)
                freed.add(try await janitor.record(pieceKeys.map { .object($0) }, in: transaction))
            }
        } catch let error as StorageError where error.code == .keyAlreadyExists {
            // The object's bytes are gone already; the pieces and the row follow.
            try? await removeResumableUpload(row, pieces: ledger.committed, lease: lease, logger: logger)
            throw error
        } catch {
            throw Self.chunkFailure(error, hold: hold, name: row.id.name, service: self)
        }
        await janitor.finish(freed.all, logger: logger)
        return version
    }

    /// Finishes an upload whose every byte is recorded but whose object its writer did not get
    /// to write (it went away, or lost the lease on the way); nothing to do once it is finished.
    @discardableResult
    private func finishRecordedUpload(
        _ row: ResumableUploadRow, lease: ResumableLease, hold: LeaseHold, requestID: String?, logger: Logger
    ) async throws -> NewVersion? {
        guard row.completedAt == nil else { return nil }
        guard row.protocolState.phase == .assembling else { throw TusErrors.released }
        return try await finishResumableUpload(row, pieces: try ResumablePiecesJSON.decode(row.pieces), lease: lease, hold: hold, requestID: requestID, logger: logger)
    }

    /// Deletes the pieces, then the row (a backend that fails keeps the row for a later sweep).
    private func removeResumableUpload(_ row: ResumableUploadRow, pieces: ResumablePieces? = nil, lease: ResumableLease, logger: Logger) async throws {
        if row.completedAt == nil {
            do {
                try await store.discard(pieces ?? ResumablePiecesJSON.decode(row.pieces), target: target(row), logger: logger)
            } catch {
                throw backendFailure(error, name: row.id.name)
            }
        }
        try await database.deleteResumableUpload(lease, logger: logger)
    }

    /// What a failed chunk tells the client.
    private static func chunkFailure(_ error: any Error, hold: LeaseHold, name: String, service: StorageService) -> any Error {
        // A write refused by the epoch fence: the lease is another's, whether or not a renewal saw it yet.
        if error is ResumableLeaseLost { hold.writeFenced() }
        if hold.stopRequested { return TusErrors.released }
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
    func systemSession(_ operation: StorageOperation, logger: Logger) -> DatabaseSession {
        Caller(jwt: nil, request: RequestFacts(headers: "{}", method: "", path: "", requestID: nil), logger: logger).session(operation)
            .asServiceRole(serviceKey: settings.serviceKey)
    }

    /// The answer for `row` in the protocol state `state` (as the request left it).
    static func status(_ row: ResumableUploadRow, _ state: ResumableUpload) -> ResumableStatus {
        ResumableStatus(
            id: row.id, offset: state.offset, length: state.length, expiresAt: row.expiresAt, isCompleted: state.isCompleted,
            contentType: row.contentType, cacheControl: row.cacheControl, percent: state.percent)
    }
}
