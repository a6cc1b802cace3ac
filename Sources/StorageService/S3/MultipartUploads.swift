public import Database
import Foundation
public import NIOCore
public import ObjectStore
public import StorageCore

/// What `CreateMultipartUpload` asks for.
public struct MultipartCreation: Sendable {
    public var bucketID: String
    public var name: String
    public var mimeType: String
    public var cacheControl: String
    public var userMetadata: JSONValue?

    public init(bucketID: String, name: String, mimeType: String, cacheControl: String, userMetadata: JSONValue?) {
        self.bucketID = bucketID
        self.name = name
        self.mimeType = mimeType
        self.cacheControl = cacheControl
        self.userMetadata = userMetadata
    }
}

/// The `/s3` endpoint's multipart uploads (spec §5.13) over `storage.s3_multipart_uploads`: the
/// upload row is created with the backend's upload, each part is streamed to the backend and then
/// recorded with its size (the bucket's limit applies to the running total), and completion
/// writes the object's row like any upload, deleting the upload's rows in the same transaction.
extension StorageService {
    /// S3's part numbers.
    public static let partNumbers = 1...10_000

    public func createMultipartUpload(_ creation: MultipartCreation, caller: Caller) async throws -> MultipartUploadRecord {
        try StoredHeaders.validate(contentType: creation.mimeType, cacheControl: creation.cacheControl)
        _ = try await authorizeUpload(probe(creation, length: nil), caller: caller)
        let version = UUID().uuidString.lowercased()
        let key = backendKey(bucketID: creation.bucketID, name: creation.name, version: version)
        let uploadID: String
        do {
            uploadID = try await store.createMultipartUpload(
                key, contentType: creation.mimeType, cacheControl: creation.cacheControl, logger: caller.logger)
        } catch {
            throw backendFailure(error, name: creation.name)
        }
        let upload = MultipartUploadRecord(
            id: uploadID, bucketID: creation.bucketID, key: creation.name, version: version, ownerID: caller.owner.id,
            userMetadata: creation.userMetadata)
        do {
            try await database.transaction(superuser(caller, .s3CreateMultipartUpload)) { try await $0.insertMultipartUpload(upload) }
        } catch {
            await janitor.discard([.multipart(key: key, uploadID: uploadID)], logger: caller.logger)
            throw error
        }
        return upload
    }

    /// Streams one part (`length` bytes exactly) to the backend and records it. A part that would
    /// take the upload past the bucket's limit is refused before a byte is stored when its length
    /// says so, and otherwise not recorded.
    public func uploadPart<Body: AsyncSequence & Sendable>(
        bucketID: String, name: String, uploadID: String, partNumber: Int, body: Body, length: Int64, caller: Caller
    ) async throws -> StoredPart where Body.Element == ByteBuffer {
        guard Self.partNumbers.contains(partNumber) else {
            throw StorageError.invalidParameter("Part number must be an integer between 1 and 10000, inclusive")
        }
        let upload = try await multipartUpload(bucketID: bucketID, name: name, uploadID: uploadID, caller: caller)
        let limit = try await authorizeUpload(probe(upload, caller: caller, length: length), caller: caller)
        if upload.inProgressSize + length > limit { throw StorageError.entityTooLarge() }
        let key = backendKey(bucketID: bucketID, name: name, version: upload.version)
        let part: StoredPart
        do {
            part = try await uploads.admit {
                try await store.uploadPart(
                    key, uploadID: uploadID, number: partNumber, body: ByteLimitedSequence(body, limit: length), length: length,
                    logger: caller.logger)
            }
        } catch let error as ObjectStoreError where error.code == .notFound {
            throw StorageError.noSuchUpload.causedBy(error)
        } catch {
            throw backendFailure(error, name: name)
        }
        try await database.transaction(superuser(caller, .s3UploadPart)) { transaction in
            guard let current = try await transaction.multipartUpload(id: uploadID, forUpdate: true) else {
                throw StorageError.noSuchUpload
            }
            let total = try await transaction.recordMultipartPart(part, upload: current)
            if total > limit { throw StorageError.entityTooLarge() }
        }
        return part
    }

    /// Joins the parts the client names (ascending numbers, each with the ETag its upload
    /// answered) into the object and writes its row, as an upload by the caller.
    public func completeMultipartUpload(
        bucketID: String, name: String, uploadID: String, parts: [(number: Int, eTag: String)], caller: Caller
    ) async throws -> UploadOutcome {
        let upload = try await multipartUpload(bucketID: bucketID, name: name, uploadID: uploadID, caller: caller)
        guard !parts.isEmpty else { throw StorageError.invalidRequest("You must specify at least one part") }
        let recorded = try await database.rolledBack(superuser(caller, .s3CompleteMultipartUpload)) {
            try await $0.multipartParts(uploadID: uploadID)
        }
        let byNumber = Dictionary(recorded.map { ($0.number, $0) }, uniquingKeysWith: { _, last in last })
        var chosen: [StoredPart] = []
        for (index, part) in parts.enumerated() {
            if index > 0, part.number <= parts[index - 1].number {
                throw StorageError.invalidPart("The list of parts was not in ascending order.")
            }
            guard let stored = byNumber[part.number], Self.sameETag(stored.eTag, part.eTag) else {
                throw StorageError.invalidPart(
                    "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
            }
            chosen.append(StoredPart(number: stored.number, eTag: stored.eTag, size: stored.size))
        }
        let total = chosen.reduce(Int64(0)) { $0 + $1.size }
        let limit = try await authorizeUpload(probe(upload, caller: caller, length: total), caller: caller)
        if total > limit { throw StorageError.entityTooLarge() }

        let key = backendKey(bucketID: bucketID, name: name, version: upload.version)
        let info: ObjectInfo
        do {
            info = try await store.completeMultipartUpload(key, uploadID: uploadID, parts: chosen, logger: caller.logger)
        } catch let error as ObjectStoreError where error.code == .notFound {
            throw StorageError.noSuchUpload.causedBy(error)
        } catch {
            throw backendFailure(error, name: name)
        }
        let mimeType = info.contentType ?? "application/octet-stream"
        let cacheControl = info.cacheControl ?? "no-cache"
        let metadata = ObjectMetadata(
            eTag: info.eTag, size: info.size, mimetype: mimeType, cacheControl: cacheControl,
            lastModified: Timestamp.iso8601(info.lastModified), contentLength: info.size, httpStatusCode: 200)
        let write = ObjectWrite(
            bucketID: bucketID, name: name, owner: caller.owner, version: upload.version, metadata: metadata.json,
            userMetadata: upload.userMetadata ?? .object([:]))
        return try await settle(
            try await commitNewVersion(
                write, upsert: true, session: superuser(caller, .s3CompleteMultipartUpload), event: .upload(.s3, route: .put),
                requestID: caller.requestID,
                alongside: { transaction in
                    guard try await transaction.deleteMultipartUpload(id: uploadID) else { throw StorageError.noSuchUpload }
                }),
            caller: caller)
    }

    /// Drops the upload: its rows now, its parts in the backend once that has committed.
    public func abortMultipartUpload(bucketID: String, name: String, uploadID: String, caller: Caller) async throws {
        let upload = try await multipartUpload(bucketID: bucketID, name: name, uploadID: uploadID, caller: caller)
        let key = backendKey(bucketID: bucketID, name: name, version: upload.version)
        let queued = try await database.transaction(superuser(caller, .s3AbortMultipartUpload)) { transaction in
            guard try await transaction.deleteMultipartUpload(id: uploadID) else { throw StorageError.noSuchUpload }
            return try await janitor.record([.multipart(key: key, uploadID: uploadID)], in: transaction)
        }
        await janitor.finish(queued, logger: caller.logger)
    }

    /// The upload's parts after `marker`, at most `limit` (one more tells whether the list is truncated).
    public func listParts(
        bucketID: String, name: String, uploadID: String, marker: Int, limit: Int, caller: Caller
    ) async throws -> (upload: MultipartUploadRecord, parts: [MultipartPartRecord]) {
        let upload = try await multipartUpload(bucketID: bucketID, name: name, uploadID: uploadID, caller: caller)
        let parts = try await database.rolledBack(superuser(caller, .s3ListParts)) {
            try await $0.multipartParts(uploadID: uploadID, after: marker, limit: limit)
        }
        return (upload, parts)
    }

    /// Uploads in progress in a bucket the caller started (all of them for the service role).
    public func listMultipartUploads(
        bucketID: String, prefix: String, delimiter: String?, keyMarker: String, uploadIDMarker: String, limit: Int,
        caller: Caller
    ) async throws -> [MultipartUploadRecord] {
        try BucketName.validate(bucketID)
        return try await database.rolledBack(superuser(caller, .s3ListMultipartUploads)) { transaction in
            guard try await transaction.bucket(id: bucketID) != nil else { throw StorageError.noSuchBucket }
            return try await transaction.listMultipartUploads(
                bucketID: bucketID, prefix: prefix, delimiter: delimiter, keyMarker: keyMarker,
                uploadIDMarker: uploadIDMarker, limit: limit
            ).filter { $0.id.isEmpty || isServiceRole(caller) || $0.ownerID == nil || $0.ownerID == caller.owner.id }
        }
    }

    /// The upload `uploadID` of `bucketID`/`name`, if the caller may touch it: the service role
    /// any, others the ones they started.
    private func multipartUpload(bucketID: String, name: String, uploadID: String, caller: Caller) async throws -> MultipartUploadRecord {
        try BucketName.validate(bucketID)
        try ObjectKey.validate(name)
        let upload = try await database.rolledBack(superuser(caller, .s3UploadPart)) { try await $0.multipartUpload(id: uploadID) }
        guard let upload, upload.bucketID == bucketID, upload.key == name else { throw StorageError.noSuchUpload }
        if !isServiceRole(caller), let owner = upload.ownerID, owner != caller.owner.id { throw StorageError.noSuchUpload }
        return upload
    }

    private func isServiceRole(_ caller: Caller) -> Bool { caller.role == "service_role" }

    /// ETags compare without their quotes (clients send them either way).
    public static func sameETag(_ lhs: String, _ rhs: String) -> Bool {
        lhs.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) == rhs.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    /// The upload an RLS probe and the limits judge, for a multipart upload's row.
    private func probe(_ creation: MultipartCreation, length: Int64?) -> UploadRequest<ByteStream> {
        UploadRequest(
            bucketID: creation.bucketID, name: creation.name, upsert: true, mimeType: creation.mimeType,
            cacheControl: creation.cacheControl, userMetadata: creation.userMetadata, declaredLength: length,
            exactLength: nil, body: ByteStream.empty, operation: .s3CreateMultipartUpload)
    }

    private func probe(_ upload: MultipartUploadRecord, caller: Caller, length: Int64) -> UploadRequest<ByteStream> {
        var request = UploadRequest(
            bucketID: upload.bucketID, name: upload.key, upsert: true, mimeType: "application/octet-stream",
            cacheControl: "no-cache", userMetadata: upload.userMetadata, declaredLength: length, exactLength: nil,
            body: ByteStream.empty, operation: .s3UploadPart)
        // The type was checked when the upload was created (the row does not keep it).
        request.mimeTypeChecked = true
        return request
    }
}
