import Database
public import ObjectStore
public import StorageCore

/// How a read route authorizes (contract §5.2).
public enum ReadAccess: Sendable {
    /// `/object/:bucket/*`: a missing or invalid token reads as anonymous, which may only read
    /// public buckets.
    case anyone
    /// `/object/authenticated/…`: a valid JWT is required.
    case authenticated
    /// `/object/public/…`: no token; the bucket must be public.
    case publicOnly
    /// Signed URLs: the token already authorized this object.
    case signed
    /// Always under RLS, public bucket or not (the source of a copy).
    case caller
}

/// An object's bytes with its row.
public struct ObjectDownload: Sendable {
    public var object: ObjectRecord
    public var content: ObjectContent
}

extension StorageService {
    /// Finds a readable object's row: public buckets (and signed reads) as superuser, private
    /// ones under RLS. Anonymous readers of a private bucket see NoSuchBucket.
    public func findObject(
        bucketID: String, name: String, caller: Caller, access: ReadAccess, operation: StorageOperation
    ) async throws -> ObjectRecord {
        try BucketName.validate(bucketID)
        try ObjectKey.validate(name)
        let object = try await database.rolledBack(superuser(caller, operation)) { transaction -> ObjectRecord? in
            guard let bucket = try await transaction.bucket(id: bucketID) else { throw StorageError.noSuchBucket }
            switch access {
            case .publicOnly:
                guard bucket.isPublic else { throw StorageError.noSuchBucket }
            case .anyone where caller.isAnonymous:
                guard bucket.isPublic else { throw StorageError.noSuchBucket }
            case .anyone, .authenticated:
                if !bucket.isPublic { try await transaction.become(caller.session(operation)) }
            case .caller:
                try await transaction.become(caller.session(operation))
            case .signed:
                break
            }
            return try await transaction.object(bucketID: bucketID, name: name)
        }
        guard let object else { throw StorageError.noSuchKey }
        return object
    }

    /// Opens an object for download under `conditions` (Range, If-None-Match, If-Modified-Since).
    /// - Parameter version: a signed URL made for one version (a `webhook` step's, which may be
    ///   pending): that version, current or still processing, and no other.
    public func download(
        bucketID: String, name: String, caller: Caller, access: ReadAccess, operation: StorageOperation,
        conditions: ReadConditions, version: String? = nil
    ) async throws -> ObjectDownload {
        let object: ObjectRecord
        if let version, case .signed = access {
            object = try await findVersion(bucketID: bucketID, name: name, version: version, caller: caller, operation: operation)
        } else {
            object = try await findObject(bucketID: bucketID, name: name, caller: caller, access: access, operation: operation)
        }
        do {
            let content = try await store.getObject(backendKey(object), conditions: conditions, logger: caller.logger)
            return ObjectDownload(object: object, content: content)
        } catch {
            throw backendFailure(error, name: name)
        }
    }
}

extension StorageService {
    /// The current row when it is `version`, else the pending (or quarantined) version a
    /// processing job holds, as the row it would write.
    private func findVersion(
        bucketID: String, name: String, version: String, caller: Caller, operation: StorageOperation
    ) async throws -> ObjectRecord {
        let current = try await findObject(bucketID: bucketID, name: name, caller: caller, access: .signed, operation: operation)
        if current.version == version { return current }
        guard let job = try await database.processingJob(bucketID: bucketID, name: name, version: version, logger: caller.logger),
            job.state != .rejected || job.quarantined
        else { throw StorageError.noSuchKey }
        return ObjectRecord(
            id: job.id, bucketID: bucketID, name: name, owner: job.write.owner.uuid, ownerID: job.write.owner.id,
            version: version, createdAt: job.createdAt, updatedAt: job.createdAt, lastAccessedAt: nil,
            metadata: job.write.metadata, userMetadata: job.write.userMetadata)
    }

    /// Checks the caller may read `name` before a signed URL for it is minted (contract §5.8):
    /// the row must be visible under row-level security.
    public func authorizeSignedURL(bucketID: String, name: String, caller: Caller) async throws {
        _ = try await findObject(bucketID: bucketID, name: name, caller: caller, access: .caller, operation: .objectSign)
    }

    /// The subset of `names` the caller may read, for bulk signing; invalid names are never visible.
    public func visibleForSigning(bucketID: String, names: [String], caller: Caller) async throws -> Set<String> {
        try BucketName.validate(bucketID)
        let candidates = names.filter { (try? ObjectKey.validate($0)) != nil }
        guard !candidates.isEmpty else { return [] }
        return try await database.rolledBack(caller.session(.objectSignMany)) { transaction in
            try await transaction.visibleObjectNames(bucketID: bucketID, names: candidates)
        }
    }
}
