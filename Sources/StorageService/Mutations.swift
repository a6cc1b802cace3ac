import Database
import Foundation
import NIOCore
import ObjectStore
public import StorageCore

/// `POST /object/copy` (contract §5.6).
public struct CopyRequest: Sendable {
    public var sourceBucket: String
    public var sourceKey: String
    public var destinationBucket: String
    public var destinationKey: String
    public var upsert: Bool
    /// Keep the source's content type, cache control and user metadata (default true).
    public var copyMetadata: Bool
    /// Replacements used when `copyMetadata` is false.
    public var mimeType: String?
    public var cacheControl: String?
    public var userMetadata: JSONValue?

    public init(
        sourceBucket: String, sourceKey: String, destinationBucket: String, destinationKey: String, upsert: Bool,
        copyMetadata: Bool, mimeType: String?, cacheControl: String?, userMetadata: JSONValue?
    ) {
        self.sourceBucket = sourceBucket
        self.sourceKey = sourceKey
        self.destinationBucket = destinationBucket
        self.destinationKey = destinationKey
        self.upsert = upsert
        self.copyMetadata = copyMetadata
        self.mimeType = mimeType
        self.cacheControl = cacheControl
        self.userMetadata = userMetadata
    }
}

extension StorageService {
    /// Deletes one object: the row under RLS, with its bytes recorded for removal in the same
    /// transaction; the bytes go once it has committed (a failed COMMIT keeps row and bytes).
    public func deleteObject(bucketID: String, name: String, caller: Caller) async throws {
        try BucketName.validate(bucketID)
        try ObjectKey.validate(name)
        let freed = try await database.transaction(superuser(caller, .objectDelete)) { transaction in
            guard let row = try await transaction.object(bucketID: bucketID, name: name, forUpdate: true) else {
                throw StorageError.noSuchKey
            }
            try await transaction.become(caller.session(.objectDelete))
            guard let deleted = try await transaction.deleteObject(bucketID: bucketID, name: name) else {
                // Refused: a caller who can see the row is told so; one who cannot hears what a
                // missing row answers, so the route is no existence oracle.
                let visible = try await transaction.object(bucketID: bucketID, name: name) != nil
                throw visible ? StorageError.accessDenied() : StorageError.noSuchKey
            }
            try await record(removalEvents([deleted], requestID: caller.requestID), in: transaction)
            return try await janitor.record(freedBytes([row]), in: transaction)
        }
        await janitor.finish(freed, logger: caller.logger)
    }

    /// Deletes the named objects the caller may delete, in batches; missing or invisible names are
    /// skipped. Returns the deleted rows.
    public func deleteObjects(bucketID: String, names: [String], caller: Caller) async throws -> [ObjectRecord] {
        try BucketName.validate(bucketID)
        var deleted: [ObjectRecord] = []
        var start = names.startIndex
        while start < names.endIndex {
            let batch = Array(names[start..<min(start + Self.deleteBatchSize, names.endIndex)])
            start += batch.count
            let (rows, freed) = try await database.transaction(caller.session(.objectDeleteMany)) { transaction in
                let rows = try await transaction.deleteObjects(bucketID: bucketID, names: batch)
                try await record(removalEvents(rows, requestID: caller.requestID), in: transaction)
                return (rows, try await janitor.record(freedBytes(rows), in: transaction))
            }
            await janitor.finish(freed, logger: caller.logger)
            deleted += rows
        }
        return deleted
    }

    /// Copies an object, possibly across buckets: source read under RLS, destination probed like
    /// an upload, bytes copied inside the backend under a new version, then the row written.
    public func copyObject(_ request: CopyRequest, caller: Caller) async throws -> UploadOutcome {
        for bucket in [request.sourceBucket, request.destinationBucket] { try BucketName.validate(bucket) }
        for key in [request.sourceKey, request.destinationKey] { try ObjectKey.validate(key) }
        if !request.copyMetadata {
            try StoredHeaders.validate(contentType: request.mimeType, cacheControl: request.cacheControl)
        }
        let source = try await findObject(
            bucketID: request.sourceBucket, name: request.sourceKey, caller: caller, access: .caller,
            operation: .objectCopy)
        let sourceMetadata = source.objectMetadata
        let mimeType = request.copyMetadata ? sourceMetadata?.mimetype : request.mimeType ?? sourceMetadata?.mimetype
        let cacheControl = request.copyMetadata ? sourceMetadata?.cacheControl : request.cacheControl ?? "no-cache"
        let userMetadata = request.copyMetadata ? source.userMetadata : request.userMetadata

        // The destination is authorized exactly like an upload of the same bytes.
        let probe = UploadRequest(
            bucketID: request.destinationBucket, name: request.destinationKey, upsert: request.upsert,
            mimeType: mimeType ?? "application/octet-stream", cacheControl: cacheControl ?? "no-cache",
            userMetadata: userMetadata, declaredLength: sourceMetadata?.size, exactLength: sourceMetadata?.size,
            body: ByteStream.empty, operation: .objectCopy)
        _ = try await authorizeUpload(probe, caller: caller)

        let version = UUID().uuidString.lowercased()
        let destinationKey = backendKey(bucketID: request.destinationBucket, name: request.destinationKey, version: version)
        let info: ObjectInfo
        do {
            info = try await store.copyObject(
                from: backendKey(source), to: destinationKey,
                contentType: request.copyMetadata ? nil : probe.mimeType,
                cacheControl: request.copyMetadata ? nil : probe.cacheControl, logger: caller.logger)
        } catch {
            throw backendFailure(error, name: request.sourceKey)
        }
        var metadata = sourceMetadata ?? ObjectMetadata(
            eTag: nil, size: nil, mimetype: nil, cacheControl: nil, lastModified: nil, contentLength: nil)
        metadata.eTag = info.eTag
        metadata.size = info.size
        metadata.contentLength = info.size
        metadata.lastModified = Timestamp.iso8601(info.lastModified)
        metadata.mimetype = probe.mimeType
        metadata.cacheControl = probe.cacheControl
        metadata.httpStatusCode = 200
        let write = ObjectWrite(
            bucketID: request.destinationBucket, name: request.destinationKey, owner: caller.owner,
            version: version, metadata: metadata.json, userMetadata: userMetadata ?? .object([:]))
        return try await settle(
            try await commitNewVersion(
                write, upsert: request.upsert, session: superuser(caller, .objectCopy), event: .copy, requestID: caller.requestID),
            caller: caller)
    }

    /// Moves (renames) an object, possibly across buckets. The row keeps its id; the bytes are
    /// copied to a new version under the new name and the old version is removed after commit.
    public func moveObject(
        sourceBucket: String, sourceKey: String, destinationBucket: String, destinationKey: String, caller: Caller
    ) async throws {
        for bucket in [sourceBucket, destinationBucket] { try BucketName.validate(bucket) }
        for key in [sourceKey, destinationKey] { try ObjectKey.validate(key) }
        if sourceBucket == destinationBucket, sourceKey == destinationKey { return }

        // Authorize as the caller: the row must be visible and updatable to its new place.
        let source = try await database.rolledBack(superuser(caller, .objectMove)) { transaction -> ObjectRecord in
            guard let destination = try await transaction.bucket(id: destinationBucket) else { throw StorageError.noSuchBucket }
            try await transaction.become(caller.session(.objectMove))
            guard let source = try await transaction.object(bucketID: sourceBucket, name: sourceKey) else {
                throw StorageError.noSuchKey
            }
            // The destination bucket's rules hold for what arrives by move, as for a copy or an upload.
            let metadata = source.objectMetadata
            if !ObjectKey.isFolderPlaceholder(destinationKey) {
                try AllowedMimeTypes.check(metadata?.mimetype ?? "application/octet-stream", in: destination.allowedMimeTypes)
            }
            if (metadata?.size ?? 0) > sizeLimit(for: destination, name: destinationKey) {
                throw StorageError.entityTooLarge()
            }
            // Upstream's move is an UPDATE as the caller: a row its policies do not let it update
            // is not found (a destination its policies refuse raises 42501, AccessDenied).
            guard try await transaction.probeObjectMove(
                bucketID: sourceBucket, name: sourceKey, to: destinationBucket, destinationKey, owner: caller.owner) > 0
            else { throw StorageError.noSuchKey }
            return source
        }

        let version = UUID().uuidString.lowercased()
        let newKey = backendKey(bucketID: destinationBucket, name: destinationKey, version: version)
        let info: ObjectInfo
        do {
            info = try await store.copyObject(from: backendKey(source), to: newKey, contentType: nil, cacheControl: nil, logger: caller.logger)
        } catch {
            throw backendFailure(error, name: sourceKey)
        }
        do {
            var metadata = source.objectMetadata ?? ObjectMetadata(
                eTag: nil, size: nil, mimetype: nil, cacheControl: nil, lastModified: nil, contentLength: nil)
            metadata.eTag = info.eTag
            metadata.size = info.size
            metadata.contentLength = info.size
            metadata.lastModified = Timestamp.iso8601(info.lastModified)
            let write = ObjectWrite(
                bucketID: destinationBucket, name: destinationKey, owner: caller.owner, version: version,
                metadata: metadata.json, userMetadata: source.userMetadata)
            let freed = try await database.transaction(superuser(caller, .objectMove)) { transaction in
                // Both keys, always in the same order, so opposite concurrent moves cannot deadlock.
                for (bucket, name) in [(sourceBucket, sourceKey), (destinationBucket, destinationKey)]
                    .sorted(by: { "\($0.0)/\($0.1)" < "\($1.0)/\($1.1)" })
                {
                    try await transaction.lockObjectKey(bucketID: bucket, name: name)
                }
                if try await transaction.object(bucketID: destinationBucket, name: destinationKey) != nil {
                    throw StorageError.resourceAlreadyExists
                }
                guard let moved = try await transaction.moveObject(id: source.id, fromVersion: source.version, to: write) else {
                    throw StorageError.noSuchKey
                }
                var oldObject: [String: JSONValue] = [
                    "name": .string(source.name), "bucketId": .string(source.bucketID),
                    "version": source.version.map(JSONValue.string) ?? .null,
                ]
                if let requestID = caller.requestID { oldObject["reqId"] = .string(requestID) }
                try await record(
                    [
                        objectEvent(.objectRemovedMove, source, requestID: caller.requestID),
                        objectEvent(.objectCreatedMove, moved, requestID: caller.requestID, extra: ["oldObject": .object(oldObject)]),
                    ], in: transaction)
                return try await janitor.record(freedBytes([source]), in: transaction)
            }
            await janitor.finish(freed, logger: caller.logger)
        } catch {
            await janitor.discard([.object(newKey)], logger: caller.logger)
            throw error
        }
    }
}

