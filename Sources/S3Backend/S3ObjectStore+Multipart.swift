public import ObjectStore
public import Logging
public import NIOCore
import S3

/// The `/s3` endpoint's multipart uploads pass straight through to the backend's: each part is one
/// streamed UploadPart of the client's number, and completion is the backend's, so no byte is
/// copied twice.
extension S3ObjectStore {
    public func createMultipartUpload(_ key: String, contentType: String, cacheControl: String, logger: Logger) async throws -> String {
        try checkKey(key)
        do {
            return try await client.createMultipartUpload(key, contentType: contentType, cacheControl: cacheControl, logger: logger)
        } catch {
            throw Self.translate(error)
        }
    }

    public func uploadPart<Body: AsyncSequence & Sendable>(
        _ key: String, uploadID: String, number: Int, body: Body, length: Int64, logger: Logger
    ) async throws -> StoredPart where Body.Element == ByteBuffer {
        do {
            let eTag = try await client.uploadPart(
                key, uploadID: uploadID, partNumber: number, body: .streaming(body, length: length), logger: logger)
            return StoredPart(number: number, eTag: eTag, size: length)
        } catch {
            throw Self.translate(error)
        }
    }

    public func completeMultipartUpload(_ key: String, uploadID: String, parts: [StoredPart], logger: Logger) async throws -> ObjectInfo {
        do {
            _ = try await client.completeMultipartUpload(
                key, uploadID: uploadID, parts: parts.map { ($0.number, $0.eTag) }, logger: logger)
            return Self.info(try await client.headObject(key, logger: logger))
        } catch where Self.refusedParts.contains(error.code) {
            // The backend holds another part under a number than the one recorded (a concurrent
            // upload of that number won there and lost in the database): the client's to resend.
            throw ObjectStoreError(.invalidPart, "S3 refused the parts of the completion", underlying: error)
        } catch {
            throw Self.translate(error)
        }
    }

    static let refusedParts: Set<S3Error.Code> = [.init("InvalidPart"), .init("InvalidPartOrder"), .entityTooSmall]

    public func abortMultipartUpload(_ key: String, uploadID: String, logger: Logger) async throws {
        do {
            try await client.abortMultipartUpload(key, uploadID: uploadID, logger: logger)
        } catch {
            throw Self.translate(error)
        }
    }
}
