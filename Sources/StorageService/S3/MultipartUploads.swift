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
        try Self.checkNames(bucketID: creation.bucketID, name: creation.name)
        try StoredHeaders.validate(contentType: creation.mimeType, cacheControl: creation.cacheControl)
        _ = try await authorizeUpload(probe(creation), caller: caller)
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
        let (upload, limit, _) = try await authorizePart(
            bucketID: bucketID, name: name, uploadID: uploadID, length: length, caller: caller, operation: .s3UploadPart)
        if upload.inProgressSize + length > limit { throw StorageError.entityTooLarge() }
        let key = backendKey(bucketID: bucketID, name: name, version: upload.version)
        let part: StoredPart
        do {
            part = try await uploads.admit {
                try await store.uploadPart(
                    key, uploadID: uploadID, number: partNumber, body: ByteLimitedSequence(body, limit: length), length: length,
                    logger: caller.logger)
            }
        } catch {
            throw multipartFailure(error, name: name)
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
    /// answered; all but the last at least 5 MiB, as S3 requires) into the object and writes its
    /// row, as an upload by the caller.
    public func completeMultipartUpload(
        bucketID: String, name: String, uploadID: String, parts: [(number: Int, eTag: String)], caller: Caller
    ) async throws -> UploadOutcome {
        guard !parts.isEmpty else { throw StorageError.invalidRequest("You must specify at least one part") }
        let (upload, limit, recorded) = try await authorizePart(
            bucketID: bucketID, name: name, uploadID: uploadID, length: nil, caller: caller,
            operation: .s3CompleteMultipartUpload, withParts: true)
        let chosen = try Self.chosenParts(parts, recorded: recorded)
        let total = chosen.reduce(Int64(0)) { $0 + $1.size }
        if total > limit { throw StorageError.entityTooLarge() }

        let key = backendKey(bucketID: bucketID, name: name, version: upload.version)
        let info: ObjectInfo
        do {
            info = try await store.completeMultipartUpload(key, uploadID: uploadID, parts: chosen, logger: caller.logger)
        } catch {
            throw multipartFailure(error, name: name)
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

    /// S3's smallest part, the last one excepted.
    public static let minimumPartSize: Int64 = 5 << 20

    /// The recorded parts a completion names, checked as S3 checks them.
    static func chosenParts(_ parts: [(number: Int, eTag: String)], recorded: [MultipartPartRecord]) throws -> [StoredPart] {
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
        if chosen.dropLast().contains(where: { $0.size < minimumPartSize }) {
            throw StorageError.entityTooSmall
        }
        return chosen
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
    ) async throws -> [MultipartPartRecord] {
        try Self.checkNames(bucketID: bucketID, name: name)
        return try await database.rolledBack(superuser(caller, .s3ListParts)) { transaction in
            _ = try await visibleUpload(uploadID, bucketID: bucketID, name: name, caller: caller, in: transaction)
            return try await transaction.multipartParts(uploadID: uploadID, after: marker, limit: limit)
        }
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

    /// What a part or a completion needs, in one transaction: the upload (if the caller may touch
    /// it), the bucket's size limit, the RLS probe as the caller (an upsert of the object, with
    /// `length`), and with `withParts` the recorded parts.
    private func authorizePart(
        bucketID: String, name: String, uploadID: String, length: Int64?, caller: Caller, operation: StorageOperation,
        withParts: Bool = false
    ) async throws -> (upload: MultipartUploadRecord, limit: Int64, parts: [MultipartPartRecord]) {
        try Self.checkNames(bucketID: bucketID, name: name)
        do {
            return try await database.rolledBack(superuser(caller, operation)) { transaction in
                let upload = try await visibleUpload(uploadID, bucketID: bucketID, name: name, caller: caller, in: transaction)
                guard let bucket = try await transaction.bucket(id: bucketID) else { throw StorageError.noSuchBucket }
                let parts = withParts ? try await transaction.multipartParts(uploadID: uploadID) : []
                // The type was checked when the upload was created; the row does not keep it.
                let row = Self.probeRow(
                    bucketID: bucketID, name: name, owner: caller.owner, mimeType: nil, declaredLength: length,
                    userMetadata: upload.userMetadata)
                try await transaction.become(caller.session(operation))
                try await transaction.probeObjectWrite(row, upsert: true)
                return (upload, sizeLimit(for: bucket, name: name), parts)
            }
        } catch let error as StorageError where error.code == .resourceAlreadyExists {
            throw StorageError.keyAlreadyExists
        }
    }

    /// The upload `uploadID` of `bucketID`/`name`, if the caller may touch it: the service role
    /// any, others the ones they started.
    private func multipartUpload(bucketID: String, name: String, uploadID: String, caller: Caller) async throws -> MultipartUploadRecord {
        try Self.checkNames(bucketID: bucketID, name: name)
        return try await database.rolledBack(superuser(caller, .s3AbortMultipartUpload)) { transaction in
            try await visibleUpload(uploadID, bucketID: bucketID, name: name, caller: caller, in: transaction)
        }
    }

    private func visibleUpload(
        _ uploadID: String, bucketID: String, name: String, caller: Caller, in transaction: Transaction
    ) async throws -> MultipartUploadRecord {
        guard let upload = try await transaction.multipartUpload(id: uploadID), upload.bucketID == bucketID, upload.key == name
        else { throw StorageError.noSuchUpload }
        if !isServiceRole(caller), let owner = upload.ownerID, owner != caller.owner.id { throw StorageError.noSuchUpload }
        return upload
    }

    private static func checkNames(bucketID: String, name: String) throws {
        try BucketName.validate(bucketID)
        try ObjectKey.validate(name)
    }

    private func isServiceRole(_ caller: Caller) -> Bool { caller.role == "service_role" }

    /// Backend failures of a part or a completion: a gone upload is NoSuchUpload, a part the
    /// backend does not hold as named is InvalidPart; the rest as for any write.
    private func multipartFailure(_ error: any Error, name: String) -> any Error {
        guard let error = error as? ObjectStoreError else { return backendFailure(error, name: name) }
        switch error.code {
        case .notFound: return StorageError.noSuchUpload.causedBy(error)
        case .invalidPart:
            return StorageError.invalidPart("One or more of the specified parts could not be found.").causedBy(error)
        default: return backendFailure(error, name: name)
        }
    }

    /// ETags compare without their quotes (clients send them either way).
    public static func sameETag(_ lhs: String, _ rhs: String) -> Bool {
        lhs.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) == rhs.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    /// The upload an RLS probe and the limits judge, for a multipart upload's creation.
    private func probe(_ creation: MultipartCreation) -> UploadRequest<ByteStream> {
        UploadRequest(
            bucketID: creation.bucketID, name: creation.name, upsert: true, mimeType: creation.mimeType,
            cacheControl: creation.cacheControl, userMetadata: creation.userMetadata, declaredLength: nil,
            exactLength: nil, body: ByteStream.empty, operation: .s3CreateMultipartUpload)
    }
}
