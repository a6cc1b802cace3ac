public import ObjectStore
import Foundation
public import Logging
public import NIOCore
public import S3
public import StorageCore

/// Stores objects in an S3 bucket (`STORAGE_MODE=self-hosted` or `cloud`, contract §7.1).
///
/// Bodies stream: a known length goes up as one PutObject, or as multipart parts of exact length
/// read straight from the request; an unknown length keeps at most two parts in memory (one
/// being sent while the next gathers). A failed multipart upload is aborted, so no bytes are
/// left behind.
public struct S3ObjectStore: ObjectStore {
    /// S3's smallest part (all but the last).
    public static let minimumPartSize = 5 << 20
    static let maximumParts = 10_000
    /// Most small pieces a resumable upload keeps waiting for its next part (only chunks sent
    /// with a checksum, which are never merged, come near it).
    static let maximumWaitingPieces = 1_000
    static let maximumKeyBytes = 1024

    public let client: S3Client
    /// Where aborts and deletes that fail (backend unreachable) wait to be retried; nil: they
    /// are only logged by the caller's failure (tests of the store alone).
    let cleanups: (any CleanupSink)?
    /// Size of multipart parts (`S3_UPLOAD_PART_SIZE`, default 16 MiB).
    let partSize: Int
    /// Copies of larger sources go part by part with UploadPartCopy (S3's CopyObject limit, 5 GiB).
    let copyObjectLimit: Int64

    public var backendName: String { "s3" }

    public init(client: S3Client, partSize: Int = 16 << 20, copyObjectLimit: Int64 = 5 << 30, cleanups: (any CleanupSink)? = nil) {
        self.client = client
        self.cleanups = cleanups
        self.partSize = max(partSize, Self.minimumPartSize)
        self.copyObjectLimit = copyObjectLimit
    }

    /// Makes sure the bucket is usable: creates it when missing if `create`, else fails.
    public func prepareBucket(create: Bool, logger: Logger) async throws {
        do {
            try await client.headBucket(logger: logger)
            return
        } catch {
            guard create, error.status == 404 || error.code == .noSuchBucket else { throw error }
        }
        try await client.createBucket(logger: logger)
    }

    // MARK: - Writes

    public func putObject<Body: AsyncSequence & Sendable>(
        _ key: String, body: Body, contentLength: Int64?, contentType: String, cacheControl: String, logger: Logger
    ) async throws -> ObjectInfo where Body.Element == ByteBuffer {
        try checkKey(key)
        let reader = PartReader(body)
        do {
            if let length = contentLength, length <= Int64(partSize) {
                _ = try await client.putObject(
                    key, body: .streaming(reader.exactly(length), length: length), contentType: contentType, cacheControl: cacheControl, logger: logger)
            } else if let length = contentLength {
                try await uploadStreamedParts(key, reader: reader, length: length, contentType: contentType, cacheControl: cacheControl, logger: logger)
            } else {
                var pending = try await reader.collect(upTo: partSize)
                if reader.isFinished {
                    _ = try await client.putObject(
                        key, body: .bytes(pending), contentType: contentType, cacheControl: cacheControl, logger: logger)
                } else {
                    try await uploadParts(key, contentType: contentType, cacheControl: cacheControl, logger: logger) { upload in
                        while pending.readableBytes > 0 {
                            // The next part gathers from the client while this one is sent, so
                            // neither side waits for the other: at most two parts in memory.
                            let part = pending
                            pending = ByteBuffer()
                            async let next = reader.collect(upTo: partSize)
                            try await upload(.bytes(part))
                            pending = try await next
                        }
                    }
                }
            }
            return try await headObject(key, logger: logger)
        } catch {
            // The request may have completed before the answer was lost: never leave those bytes.
            await discard(key, logger: logger)
            // The body's own failure (client gone, size limit) explains an aborted transfer best.
            throw reader.failure ?? Self.translate(error)
        }
    }

    /// Removes whatever a failed write to `key` may have left, now or once the backend is back:
    /// the object, and multipart uploads of the key whose creation answer was lost. Keys are
    /// version-unique, so nothing else can be writing to this one.
    private func discard(_ key: String, logger: Logger) async {
        await cleanUp(.failedWrite(key), logger: logger)
    }

    /// Runs a multipart upload whose parts `produce` sends through `upload`; aborts on failure.
    private func uploadParts(
        _ key: String, contentType: String, cacheControl: String, logger: Logger,
        produce: (_ upload: (S3Client.Body) async throws -> Void) async throws -> Void
    ) async throws {
        try await multipartUpload(key, contentType: contentType, cacheControl: cacheControl, logger: logger) { uploadID in
            var parts: [(number: Int, eTag: String)] = []
            try await produce { body in
                guard parts.count < Self.maximumParts else {
                    throw ObjectStoreError(.io, "objects of more than \(Self.maximumParts) parts are not supported")
                }
                let number = parts.count + 1
                parts.append((number, try await client.uploadPart(key, uploadID: uploadID, partNumber: number, body: body, logger: logger)))
            }
            return parts
        }
    }

    /// A multipart upload of a body of known length, parts streamed without buffering. The next
    /// part's request starts once the previous part's bytes are all handed over, so the server
    /// finishing one part overlaps the next part's transfer (at most two requests at a time).
    private func uploadStreamedParts<Body>(
        _ key: String, reader: PartReader<Body>, length: Int64, contentType: String, cacheControl: String, logger: Logger
    ) async throws {
        let client = self.client
        try await multipartUpload(key, contentType: contentType, cacheControl: cacheControl, logger: logger) { uploadID in
            let size = max(Int64(partSize), (length + Int64(Self.maximumParts) - 1) / Int64(Self.maximumParts))
            var eTags: [Int: String] = [:]
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var remaining = length
                var number = 0
                var running = 0
                while remaining > 0 {
                    let partLength = min(size, remaining)
                    remaining -= partLength
                    number += 1
                    let (handedOver, signal) = AsyncStream<Void>.makeStream()
                    let body = S3Client.Body.streaming(reader.exactly(partLength) { signal.finish() }, length: partLength)
                    let partNumber = number
                    group.addTask {
                        defer { signal.finish() }
                        return (partNumber, try await client.uploadPart(key, uploadID: uploadID, partNumber: partNumber, body: body, logger: logger))
                    }
                    running += 1
                    for await _ in handedOver {}
                    while running >= 2, let (finished, eTag) = try await group.next() {
                        eTags[finished] = eTag
                        running -= 1
                    }
                }
                for try await (finished, eTag) in group { eTags[finished] = eTag }
            }
            return eTags.keys.sorted().map { ($0, eTags[$0]!) }
        }
    }

    /// Creates a multipart upload, lets `uploadParts` send its parts and completes it with the
    /// parts returned. On failure the upload is aborted, now or (backend unreachable) once it is back.
    private func multipartUpload(
        _ key: String, contentType: String, cacheControl: String, logger: Logger,
        uploadParts: (_ uploadID: String) async throws -> [(number: Int, eTag: String)]
    ) async throws {
        let uploadID = try await client.createMultipartUpload(key, contentType: contentType, cacheControl: cacheControl, logger: logger)
        do {
            _ = try await client.completeMultipartUpload(key, uploadID: uploadID, parts: try await uploadParts(uploadID), logger: logger)
        } catch {
            await cleanUp(.multipart(key: key, uploadID: uploadID), logger: logger)
            throw error
        }
    }

    /// Runs a clean-up now; if the backend fails, the durable queue retries it.
    func cleanUp(_ cleanup: BackendCleanup, logger: Logger) async {
        do {
            try await perform(cleanup, logger: logger)
        } catch {
            await cleanups?.postpone([cleanup], after: error, logger: logger)
        }
    }

    public func perform(_ cleanup: BackendCleanup, logger: Logger) async throws {
        switch cleanup {
        case .object, .prefix:
            try await performDeletes(of: cleanup, logger: logger)
        case .failedWrite(let key):
            try await abortUploads(of: key, logger: logger)
            try await deleteObjects([key], logger: logger)
        case .multipart(let key, let uploadID):
            try await abort(uploadID, of: key, logger: logger)
        }
    }

    /// Aborts every multipart upload of `key` (one whose creation answer was lost included).
    private func abortUploads(of key: String, logger: Logger) async throws {
        let uploads: [(key: String, uploadID: String)]
        do {
            uploads = try await client.listMultipartUploads(prefix: key, logger: logger)
        } catch {
            throw Self.translate(error)
        }
        for upload in uploads where upload.key == key { try await abort(upload.uploadID, of: key, logger: logger) }
    }

    /// Aborts one multipart upload; one already aborted or completed is not an error.
    private func abort(_ uploadID: String, of key: String, logger: Logger) async throws {
        do {
            try await client.abortMultipartUpload(key, uploadID: uploadID, logger: logger)
        } catch {
            if error.status != 404 { throw Self.translate(error) }
        }
    }

    public func listKeys(
        under prefix: String, batchSize: Int, logger: Logger, _ visit: ([StoredKey]) async throws -> Void
    ) async throws {
        var token: String?
        repeat {
            let page = try await listPage(prefix + "/", token: token, maxKeys: min(max(batchSize, 1), 1000), logger: logger)
            try await visit(page.entries.map { StoredKey(key: $0.key, lastModified: $0.lastModified) })
            token = page.nextContinuationToken
        } while token != nil
    }

    private func listPage(_ prefix: String, token: String?, maxKeys: Int, logger: Logger) async throws -> S3ListPage {
        do {
            return try await client.listObjectsV2(prefix: prefix, continuationToken: token, maxKeys: maxKeys, logger: logger)
        } catch {
            throw Self.translate(error)
        }
    }

    // MARK: - Reads

    public func getObject(_ key: String, conditions: ReadConditions, logger: Logger) async throws -> ObjectContent {
        try checkKey(key)
        let download: S3Download
        do {
            download = try await client.getObject(
                key, range: conditions.range?.headerValue, ifNoneMatch: conditions.ifNoneMatch,
                ifModifiedSince: conditions.ifModifiedSince, logger: logger)
        } catch {
            guard error.status == 416 || error.code == .invalidRange else { throw Self.translate(error) }
            return ObjectContent(info: try await headObject(key, logger: logger), outcome: .rangeNotSatisfiable, body: .empty)
        }
        let info = Self.info(download.head)
        // Backends that ignore If-None-Match still answer 304 here.
        if download.part == .notModified || conditions.isNotModified(info) {
            return ObjectContent(info: info, outcome: .notModified, body: .empty)
        }
        switch download.part {
        case .range(let range): return ObjectContent(info: info, outcome: .partial(range), body: ByteStream(download.body))
        default: return ObjectContent(info: info, outcome: .whole, body: ByteStream(download.body))
        }
    }

    public func headObject(_ key: String, logger: Logger) async throws -> ObjectInfo {
        try checkKey(key)
        do {
            return Self.info(try await client.headObject(key, logger: logger))
        } catch {
            throw Self.translate(error)
        }
    }

    // MARK: - Deletes and copies

    public func deleteObjects(_ keys: [String], logger: Logger) async throws {
        guard !keys.isEmpty else { return }
        do {
            try await client.deleteObjects(keys, logger: logger)
        } catch {
            throw Self.translate(error)
        }
    }

    public func deleteObjects(under prefix: String, logger: Logger) async throws {
        try checkKey(prefix)
        do {
            // Each page is listed afresh after the previous one is deleted; a key that survives its
            // delete ends the walk rather than looping on it.
            var previousFirst: String?
            while true {
                let page = try await client.listObjectsV2(prefix: prefix + "/", logger: logger)
                guard let first = page.entries.first?.key, first != previousFirst else { return }
                previousFirst = first
                try await client.deleteObjects(page.entries.map(\.key), logger: logger)
            }
        } catch {
            throw Self.translate(error)
        }
    }

    public func copyObject(
        from source: String, to destination: String, contentType: String?, cacheControl: String?, logger: Logger
    ) async throws -> ObjectInfo {
        try checkKey(source)
        try checkKey(destination)
        do {
            let head = try await client.headObject(source, logger: logger)
            if head.size <= copyObjectLimit {
                _ = try await client.copyObject(
                    from: source, to: destination, contentType: contentType ?? head.contentType,
                    cacheControl: cacheControl ?? head.cacheControl, logger: logger)
            } else {
                try await copyInParts(from: source, to: destination, size: head.size, head: head, contentType: contentType, cacheControl: cacheControl, logger: logger)
            }
            return Self.info(try await client.headObject(destination, logger: logger))
        } catch {
            await discard(destination, logger: logger)
            throw Self.translate(error)
        }
    }

    /// Copies a source over CopyObject's limit with UploadPartCopy, in parts of at most the limit.
    private func copyInParts(
        from source: String, to destination: String, size: Int64, head: S3ObjectHead, contentType: String?, cacheControl: String?, logger: Logger
    ) async throws {
        let client = self.client
        try await multipartUpload(
            destination, contentType: contentType ?? head.contentType ?? "application/octet-stream",
            cacheControl: cacheControl ?? head.cacheControl ?? "no-cache", logger: logger
        ) { uploadID in
            let partSize = max(copyObjectLimit, (size + Int64(Self.maximumParts) - 1) / Int64(Self.maximumParts))
            var parts: [(number: Int, eTag: String)] = []
            var start: Int64 = 0
            while start < size {
                let end = min(start + partSize, size) - 1
                let eTag = try await client.uploadPartCopy(
                    destination, uploadID: uploadID, partNumber: parts.count + 1, source: source, range: start...end, logger: logger)
                parts.append((parts.count + 1, eTag))
                start = end + 1
            }
            return parts
        }
    }

    public func checkHealth(logger: Logger) async throws {
        do {
            try await client.headBucket(logger: logger)
        } catch {
            throw Self.translate(error)
        }
    }

    // MARK: - Helpers

    public func checkKey(_ key: String) throws(ObjectStoreError) {
        guard !key.isEmpty, key.utf8.count <= Self.maximumKeyBytes else {
            throw ObjectStoreError(.invalidKey, "S3 keys are 1 to \(Self.maximumKeyBytes) bytes")
        }
        // MinIO and SeaweedFS refuse keys with dot segments (they read them as paths).
        if key.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == "." || $0 == ".." }) {
            throw ObjectStoreError(.invalidKey, "keys with '.' or '..' segments cannot be stored on an S3 backend")
        }
    }

    static func info(_ head: S3ObjectHead) -> ObjectInfo {
        ObjectInfo(
            size: head.size, eTag: head.eTag, lastModified: head.lastModified,
            contentType: head.contentType, cacheControl: head.cacheControl)
    }

    /// S3 failures in `ObjectStoreError` terms; other errors pass through.
    static func translate(_ error: any Error) -> any Error {
        guard let error = error as? S3Error else { return error }
        // The S3 error, with its code, message and request id, is the cause; these say what it means here.
        if error.status == 404 || error.code == .noSuchKey { return ObjectStoreError(.notFound, "S3 has no such key", underlying: error) }
        if error.code == .unreachable || error.status >= 500 {
            return ObjectStoreError(.unavailable, "S3 did not answer, or failed", underlying: error)
        }
        return ObjectStoreError(.io, "S3 refused the request", underlying: error)
    }
}

extension ByteRangeRequest {
    /// The `Range` header value.
    var headerValue: String {
        switch self {
        case .from(let first, let last): "bytes=\(first)-\(last.map(String.init) ?? "")"
        case .suffix(let count): "bytes=-\(count)"
        }
    }
}

extension S3Client.Body {
    /// A streamed body of exactly `length` bytes (never replayed, so never retried).
    static func streaming<Bytes: AsyncSequence & Sendable>(_ bytes: Bytes, length: Int64) -> S3Client.Body
    where Bytes.Element == ByteBuffer {
        .stream({ .stream(bytes, length: .known(length)) }, length: length)
    }
}
