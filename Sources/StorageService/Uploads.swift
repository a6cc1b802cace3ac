import Database
import Foundation
public import NIOCore
import ObjectStore
public import StorageCore

/// One object upload, as parsed from a request (contract §5.1).
public struct UploadRequest<Body: AsyncSequence & Sendable>: Sendable where Body.Element == ByteBuffer {
    public var bucketID: String
    public var name: String
    /// Replace an existing object instead of failing with Duplicate.
    public var upsert: Bool
    public var mimeType: String
    public var cacheControl: String
    /// Parsed custom metadata; `nil` when none was sent (stored as `{}`).
    public var userMetadata: JSONValue?
    public var xRobotsTag: String?
    /// The request's `Content-Length`, shown to policies in the probe row's metadata.
    public var declaredLength: Int64?
    /// The exact body length when known in advance (raw bodies with `Content-Length`).
    public var exactLength: Int64?
    public var body: Body
    public var operation: StorageOperation
    /// The bucket, when it was looked up before the body was read (form uploads).
    public var destination: UploadDestination?
    /// How events name the upload (`/s3` uploads are `s3`).
    public var uploadType: UploadType = .standard

    public init(
        bucketID: String, name: String, upsert: Bool, mimeType: String, cacheControl: String,
        userMetadata: JSONValue?, xRobotsTag: String? = nil, declaredLength: Int64?, exactLength: Int64?,
        body: Body, operation: StorageOperation, destination: UploadDestination? = nil
    ) {
        self.destination = destination
        self.bucketID = bucketID
        self.name = name
        self.upsert = upsert
        self.mimeType = mimeType
        self.cacheControl = cacheControl
        self.userMetadata = userMetadata
        self.xRobotsTag = xRobotsTag
        self.declaredLength = declaredLength
        self.exactLength = exactLength
        self.body = body
        self.operation = operation
    }
}

/// The bucket an upload goes to, looked up before any byte of its body is read.
public struct UploadDestination: Sendable {
    let bucket: Bucket
}

extension StorageService {
    /// Looks up the bucket of an upload before its body is read, so a form sent to a missing
    /// bucket is refused at once rather than after its fields.
    public func uploadDestination(
        bucketID: String, name: String, caller: Caller, operation: StorageOperation
    ) async throws -> UploadDestination {
        try BucketName.validate(bucketID)
        try ObjectKey.validate(name)
        let bucket = try await database.rolledBack(superuser(caller, operation)) { try await $0.bucket(id: bucketID) }
        guard let bucket else { throw StorageError.noSuchBucket }
        return UploadDestination(bucket: bucket)
    }

    /// Uploads an object (contract §7.2): bucket lookup and RLS probe, then the bytes under a fresh
    /// version, then the row; the old version's bytes go after commit. On any failure after the
    /// bytes were written they are removed again.
    public func upload<Body>(_ request: UploadRequest<Body>, caller: Caller) async throws -> UploadOutcome {
        try BucketName.validate(request.bucketID)
        try ObjectKey.validate(request.name)
        try StoredHeaders.validate(contentType: request.mimeType, cacheControl: request.cacheControl)
        let limit = try await authorizeUpload(request, caller: caller)
        return try await settle(try await storeUpload(request, limit: limit, owner: caller.owner, caller: caller), caller: caller)
    }

    /// Uploads through a signed upload URL (contract §5.9): row-level security was checked when
    /// the token was minted, so there is no probe; the token's owner and upsert apply.
    public func uploadSigned<Body>(_ request: UploadRequest<Body>, owner: String?, caller: Caller) async throws -> UploadOutcome {
        try BucketName.validate(request.bucketID)
        try ObjectKey.validate(request.name)
        try StoredHeaders.validate(contentType: request.mimeType, cacheControl: request.cacheControl)
        let limit = try await authorizeUpload(request, caller: caller, probe: false)
        return try await settle(
            try await storeUpload(request, limit: limit, owner: Owner(sub: owner), caller: caller), caller: caller)
    }

    /// What minting a signed upload URL checks (contract §5.9): that the caller could upload there
    /// now (the RLS probe, insert or upsert), with the type and length it declared.
    public func authorizeSignedUploadURL(
        bucketID: String, name: String, upsert: Bool, mimeType: String?, declaredLength: Int64?, userMetadata: JSONValue?,
        caller: Caller
    ) async throws {
        try BucketName.validate(bucketID)
        try ObjectKey.validate(name)
        try StoredHeaders.validate(contentType: mimeType, cacheControl: nil)
        let row = Self.probeRow(
            bucketID: bucketID, name: name, owner: caller.owner, mimeType: mimeType, declaredLength: declaredLength,
            userMetadata: userMetadata)
        try await probe(row, upsert: upsert, caller: caller, operation: .objectSignUploadURL)
    }

    /// The RLS probe alone: the candidate row inserted (or upserted) as the caller, rolled back.
    func probe(_ row: ObjectWrite, upsert: Bool, caller: Caller, operation: StorageOperation) async throws {
        do {
            try await database.rolledBack(caller.session(operation)) { transaction in
                try await transaction.probeObjectWrite(row, upsert: upsert)
            }
        } catch let error as StorageError where error.code == .resourceAlreadyExists {
            throw StorageError.keyAlreadyExists
        }
    }

    /// Looks the bucket up as superuser (unless the request carries it already), checks its
    /// limits, and (unless `probe` is false) probes the row as the caller. Returns the size limit
    /// to enforce while streaming.
    func authorizeUpload<Body>(_ request: UploadRequest<Body>, caller: Caller, probe: Bool = true) async throws -> Int64 {
        if let bucket = request.destination?.bucket {
            let limit = try checkLimits(request, bucket: bucket)
            if probe {
                try await self.probe(probeRow(request, owner: caller.owner), upsert: request.upsert, caller: caller, operation: request.operation)
            }
            return limit
        }
        do {
            return try await database.rolledBack(superuser(caller, request.operation)) { transaction in
                guard let bucket = try await transaction.bucket(id: request.bucketID) else {
                    throw StorageError.noSuchBucket
                }
                let limit = try checkLimits(request, bucket: bucket)
                if probe {
                    try await transaction.become(caller.session(request.operation))
                    try await transaction.probeObjectWrite(probeRow(request, owner: caller.owner), upsert: request.upsert)
                }
                return limit
            }
        } catch let error as StorageError where error.code == .resourceAlreadyExists {
            throw StorageError.keyAlreadyExists
        }
    }

    /// The bucket's MIME rule and the size limit an upload of `request` must keep.
    private func checkLimits<Body>(_ request: UploadRequest<Body>, bucket: Bucket) throws -> Int64 {
        let limit = sizeLimit(for: bucket, name: request.name)
        if !ObjectKey.isFolderPlaceholder(request.name) {
            try AllowedMimeTypes.check(request.mimeType, in: bucket.allowedMimeTypes)
        }
        if let length = request.exactLength, length > limit { throw StorageError.entityTooLarge() }
        return limit
    }

    /// The candidate row RLS policies judge: version `1` and the declared type and length.
    func probeRow<Body>(_ request: UploadRequest<Body>, owner: Owner) -> ObjectWrite {
        Self.probeRow(
            bucketID: request.bucketID, name: request.name, owner: owner, mimeType: request.mimeType,
            declaredLength: request.declaredLength, userMetadata: request.userMetadata)
    }

    static func probeRow(
        bucketID: String, name: String, owner: Owner, mimeType: String?, declaredLength: Int64?, userMetadata: JSONValue?
    ) -> ObjectWrite {
        var metadata: [String: JSONValue] = [:]
        if let mimeType { metadata["mimetype"] = .string(mimeType) }
        if let declaredLength { metadata["contentLength"] = .integer(declaredLength) }
        return ObjectWrite(
            bucketID: bucketID, name: name, owner: owner, version: "1", metadata: .object(metadata), userMetadata: userMetadata)
    }

    /// Streams the bytes to a new version and writes the row as superuser.
    func storeUpload<Body>(
        _ request: UploadRequest<Body>, limit: Int64, owner: Owner, caller: Caller
    ) async throws -> NewVersion {
        let version = UUID().uuidString.lowercased()
        let key = backendKey(bucketID: request.bucketID, name: request.name, version: version)
        let info: ObjectInfo
        do {
            info = try await uploads.admit {
                try await store.putObject(
                    key, body: ByteLimitedSequence(request.body, limit: limit), contentLength: request.exactLength,
                    contentType: request.mimeType, cacheControl: request.cacheControl, logger: caller.logger)
            }
        } catch {
            throw backendFailure(error, name: request.name)
        }
        let metadata = ObjectMetadata(
            eTag: info.eTag, size: info.size, mimetype: request.mimeType, cacheControl: request.cacheControl,
            lastModified: Timestamp.iso8601(info.lastModified), contentLength: info.size, httpStatusCode: 200,
            xRobotsTag: request.xRobotsTag)
        let write = ObjectWrite(
            bucketID: request.bucketID, name: request.name, owner: owner, version: version,
            metadata: metadata.json, userMetadata: request.userMetadata ?? .object([:]))
        return try await commitNewVersion(
            write, upsert: request.upsert, session: superuser(caller, request.operation),
            event: .upload(request.uploadType, route: [.objectUploadUpdate, .s3PutObject].contains(request.operation) ? .put : .post), requestID: caller.requestID)
    }

    /// Writes the row of bytes already stored under `write.version`, serialised per key.
    /// Without `upsert` an existing row (a concurrent upload won the race) means Duplicate.
    /// The bytes of the replaced version are recorded for removal in the same transaction and
    /// removed after commit; on failure the new ones are,
    /// unless the failure is a lost resumable lease (whoever holds it now finishes with them).
    ///
    /// - Parameters:
    ///   - discardOnFailure: remove the new bytes when the row is not written (false when
    ///     something else still owns them: an assembled resumable upload).
    ///   - alongside: more work for the same transaction, run once the key is locked (so
    ///     a row it locks, such as a resumable upload's, is not held while waiting for the key).
    ///   - checked: the version went through its bucket's processing already. Otherwise a
    ///     version of a bucket with processing is recorded as pending instead (docs/contract.md §12.3).
    func commitNewVersion(
        _ write: ObjectWrite, upsert: Bool, session: DatabaseSession, event: NewVersionEvent, requestID: String?,
        discardOnFailure: Bool = true, checked: Bool = false, alongside: (@Sendable (Transaction) async throws -> Void)? = nil
    ) async throws -> NewVersion {
        if !checked, let rule = processingRule(bucketID: write.bucketID) {
            return try await recordPendingVersion(
                write, upsert: upsert, rule: rule, session: session, origin: event, requestID: requestID,
                discardOnFailure: discardOnFailure, alongside: alongside)
        }
        let newKey = backendKey(bucketID: write.bucketID, name: write.name, version: write.version)
        do {
            let (row, freed) = try await database.transaction(session) { transaction in
                try await transaction.lockObjectKey(bucketID: write.bucketID, name: write.name)
                try await alongside?(transaction)
                let previous = try await transaction.object(bucketID: write.bucketID, name: write.name, forUpdate: true)
                if previous != nil, !upsert { throw StorageError.keyAlreadyExists }
                let row = try await transaction.upsertObject(write)
                // A repeat of the same version's commit (a resumable completion run again) reports nothing new.
                if previous?.version != write.version {
                    try await record(newVersionEvent(event, row: row, previous: previous, requestID: requestID), in: transaction)
                }
                // The replaced version's bytes, recorded with the change that frees them.
                guard let previous, previous.version != write.version else { return (row, [QueuedCleanup]()) }
                return (row, try await janitor.record(freedBytes([previous]), in: transaction))
            }
            await janitor.finish(freed, logger: session.logger)
            return .committed(row)
        } catch let error as ResumableLeaseLost {
            throw error
        } catch {
            if discardOnFailure { await janitor.discard([.object(newKey)], logger: session.logger) }
            throw error
        }
    }
}
