public import Logging
public import NIOCore
public import StorageCore

/// A part of a multipart upload as the backend stored it.
public typealias StoredPart = MultipartPart

/// S3-style multipart uploads (the `/s3` endpoint's): the client numbers the parts and may send
/// them in any order, at once, and again; completion joins the parts it names into the object.
/// Each part is streamed, never held in memory.
public protocol MultipartStorage: Sendable {
    /// Starts an upload that will become `key`; returns its id (S3: the backend's `UploadId`).
    func createMultipartUpload(_ key: String, contentType: String, cacheControl: String, logger: Logger) async throws -> String

    /// Stores part `number` of the upload (replacing an earlier part of that number). `length` is
    /// the body's exact length; bodies that throw leave no part behind.
    func uploadPart<Body: AsyncSequence & Sendable>(
        _ key: String, uploadID: String, number: Int, body: Body, length: Int64, logger: Logger
    ) async throws -> StoredPart where Body.Element == ByteBuffer

    /// Writes `key` from `parts` in order, with the content type and cache control the upload was
    /// created with, and drops the upload. The ETag is S3's multipart ETag
    /// (`"<md5 of the parts' md5s>-<count>"`). Throws `notFound` when the upload is gone.
    func completeMultipartUpload(_ key: String, uploadID: String, parts: [StoredPart], logger: Logger) async throws -> ObjectInfo

    /// Drops the upload and every part it holds; an upload already gone is not an error.
    func abortMultipartUpload(_ key: String, uploadID: String, logger: Logger) async throws
}
