import Database
import Foundation
public import StorageCore

/// A new bucket's settings (`POST /bucket`).
public struct BucketCreation: Sendable {
    public var id: String
    public var name: String
    public var isPublic: Bool
    public var fileSizeLimit: Int64?
    public var allowedMimeTypes: [String]?
    public var type: String

    public init(id: String, name: String, isPublic: Bool, fileSizeLimit: Int64?, allowedMimeTypes: [String]?, type: String) {
        self.id = id
        self.name = name
        self.isPublic = isPublic
        self.fileSizeLimit = fileSizeLimit
        self.allowedMimeTypes = allowedMimeTypes
        self.type = type
    }
}

/// Changes to a bucket (`PUT /bucket/:id`); `nil` leaves a setting alone.
public struct BucketChanges: Sendable {
    public var isPublic: Bool?
    public var fileSizeLimit: FieldUpdate<Int64>
    public var allowedMimeTypes: FieldUpdate<[String]>

    public init(isPublic: Bool?, fileSizeLimit: FieldUpdate<Int64>, allowedMimeTypes: FieldUpdate<[String]>) {
        self.isPublic = isPublic
        self.fileSizeLimit = fileSizeLimit
        self.allowedMimeTypes = allowedMimeTypes
    }

    var isEmpty: Bool {
        if isPublic != nil { return false }
        if case .set = fileSizeLimit { return false }
        if case .set = allowedMimeTypes { return false }
        return true
    }
}

extension StorageService {
    /// Bucket-delete emptiness checks and object batches are this size.
    static let deleteBatchSize = 500

    public func listBuckets(caller: Caller, options: BucketListOptions) async throws -> [Bucket] {
        try await database.transaction(caller.session(.bucketList)) { try await $0.listBuckets(options) }
    }

    public func bucket(id: String, caller: Caller) async throws -> Bucket {
        let bucket = try await database.transaction(caller.session(.bucketGet)) { try await $0.bucket(id: id) }
        guard let bucket else { throw StorageError.noSuchBucket }
        return bucket
    }

    /// Creates a bucket under RLS; the owner is the caller's `sub`.
    public func createBucket(_ creation: BucketCreation, caller: Caller) async throws {
        guard BucketName.isValidForCreation(creation.name), BucketName.isValid(creation.id),
            !creation.name.hasSuffix("--table-s3")
        else { throw StorageError.invalidBucketName }
        try validateLimits(fileSizeLimit: creation.fileSizeLimit, allowedMimeTypes: creation.allowedMimeTypes)
        guard creation.type == "STANDARD" else {
            throw StorageError.bucketTypeNotSupported(creation.type)
        }
        do {
            try await database.transaction(caller.session(.bucketCreate)) { transaction in
                try await transaction.insertBucket(
                    id: creation.id, name: creation.name, owner: caller.owner, isPublic: creation.isPublic,
                    fileSizeLimit: creation.fileSizeLimit, allowedMimeTypes: creation.allowedMimeTypes,
                    type: creation.type)
                try await record(
                    [bucketEvent(.bucketCreated, bucketID: creation.id, bucketType: creation.type, requestID: caller.requestID)],
                    in: transaction)
            }
        } catch let error as StorageError where error.code == .resourceAlreadyExists {
            throw StorageError.bucketAlreadyExists
        }
    }

    public func updateBucket(id: String, changes: BucketChanges, caller: Caller) async throws {
        try BucketName.validate(id)
        guard !changes.isEmpty else { throw StorageError.noContent }
        if case .set(let limit) = changes.fileSizeLimit {
            try validateLimits(fileSizeLimit: limit, allowedMimeTypes: nil)
        }
        if case .set(let types) = changes.allowedMimeTypes {
            try validateLimits(fileSizeLimit: nil, allowedMimeTypes: types)
        }
        // Only a CDN in front needs to know a bucket stops being public (its copies must go).
        let watchesPrivacy = cdn != nil && changes.isPublic == false
        let (updated, wasPublic) = try await database.transaction(caller.session(.bucketUpdate)) { transaction in
            let wasPublic = watchesPrivacy ? try await transaction.bucket(id: id)?.isPublic ?? false : false
            let updated = try await transaction.updateBucket(
                id: id, isPublic: changes.isPublic, fileSizeLimit: changes.fileSizeLimit,
                allowedMimeTypes: changes.allowedMimeTypes)
            return (updated, wasPublic)
        }
        guard updated > 0 else { throw StorageError.noSuchBucket }
        if wasPublic, let cdn {
            // As upstream: public → private purges the bucket at the CDN. The change has
            // committed, so a CDN that does not confirm is logged rather than reported as a failure.
            do {
                try await cdn.purge(
                    CDNPurgeRequest(scope: .bucket(id), transformations: false, tenantID: settings.tenantID), logger: caller.logger)
            } catch {
                caller.logger.warning(
                    "the CDN did not confirm the purge of a bucket made private",
                    metadata: ["bucket": "\(id)", "error": "\(String(reflecting: error))"])
            }
        }
    }

    /// Deletes an empty bucket: emptiness is checked as superuser under a row lock, the delete
    /// itself runs under RLS. Backend bytes are never touched (there are none).
    public func deleteBucket(id: String, caller: Caller) async throws {
        try BucketName.validate(id)
        try await database.transaction(superuser(caller, .bucketDelete)) { transaction in
            guard try await transaction.bucket(id: id, forUpdate: true) != nil else { throw StorageError.noSuchBucket }
            guard try await !transaction.bucketHasObjects(id: id) else { throw StorageError.bucketNotEmpty }
            try await transaction.become(caller.session(.bucketDelete))
            guard try await transaction.deleteBucket(id: id) > 0 else { throw StorageError.noSuchBucket }
            try await record([bucketEvent(.bucketDeleted, bucketID: id, bucketType: nil, requestID: caller.requestID)], in: transaction)
        }
    }

    /// Deletes every object of the bucket the caller may delete (contract §4: under RLS), in
    /// batches whose bytes are removed inside each batch's transaction.
    public func emptyBucket(id: String, caller: Caller) async throws {
        try BucketName.validate(id)
        let session = caller.session(.bucketEmpty)
        let visible = try await database.transaction(session) { transaction in
            guard try await transaction.bucket(id: id) != nil else { throw StorageError.noSuchBucket }
            return try await transaction.countObjects(bucketID: id, upTo: settings.emptyBucketMaximum + 1)
        }
        guard visible <= settings.emptyBucketMaximum else {
            throw StorageError.bucketTooLargeToEmpty
        }
        // Walk the visible rows in id order, deleting each page: rows the caller may see but not
        // delete are stepped over rather than ending the walk.
        let startedAt = Date()
        var cursor: UUID? = nil
        while true {
            let after = cursor
            let scanned = try await database.transaction(session) { transaction -> (ids: [UUID], freed: [QueuedCleanup]) in
                let ids = try await transaction.objectIDs(
                    bucketID: id, createdBefore: startedAt, after: after, limit: Self.deleteBatchSize)
                let rows = try await transaction.deleteObjects(ids: ids)
                try await record(removalEvents(rows, requestID: caller.requestID), in: transaction)
                return (ids, try await janitor.record(freedBytes(rows), in: transaction))
            }
            await janitor.finish(scanned.freed, logger: caller.logger)
            guard scanned.ids.count == Self.deleteBatchSize, let last = scanned.ids.last else { break }
            cursor = last
        }
    }

    /// `file_size_limit` must not exceed the global limit; mime entries must be well formed.
    func validateLimits(fileSizeLimit: Int64?, allowedMimeTypes: [String]?) throws {
        if let limit = fileSizeLimit, limit > settings.uploadFileSizeLimit {
            throw StorageError.entityTooLarge()
        }
        if let allowedMimeTypes { try AllowedMimeTypes.validate(allowedMimeTypes) }
    }
}
