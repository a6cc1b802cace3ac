public import ObjectStore
import Crypto
import WireFormats
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
public import Logging
public import NIOCore

/// File mode keeps an `/s3` multipart upload's parts as files under `__s3multipart/<upload id>/`,
/// each written like an object (temporary file, fsync, rename) and named `<number>-<md5>`, so a
/// part sent again never changes the bytes of one already recorded. Completion copies the parts into one temporary file in the kernel
/// (`copy_file_range`), fsyncs it and renames it into place, then removes the parts.
extension FileObjectStore {
    static let multipartArea = "__s3multipart"
    /// Not a part's name (`<number>-<md5>`), so no part replaces it.
    static let multipartMeta = "meta"

    func multipartDirectoryKey(_ uploadID: String) -> String { "\(Self.multipartArea)/\(uploadID)" }

    public func createMultipartUpload(_ key: String, contentType: String, cacheControl: String, logger: Logger) async throws -> String {
        try checkKey(key)
        let uploadID = UUID().uuidString.lowercased()
        // An empty file whose attributes keep the type and cache control for completion.
        _ = try await writeFile(
            "\(multipartDirectoryKey(uploadID))/\(Self.multipartMeta)", body: ByteStream.empty, contentType: contentType,
            cacheControl: cacheControl, keepingPartialBody: false)
        return uploadID
    }

    public func uploadPart<Body: AsyncSequence & Sendable>(
        _ key: String, uploadID: String, number: Int, body: Body, length: Int64, logger: Logger
    ) async throws -> StoredPart where Body.Element == ByteBuffer {
        let directory = try mapping.path(for: multipartDirectoryKey(uploadID))
        // An aborted or completed upload takes no more parts (its directory is gone).
        guard (try? PosixFile.status(directory)) != nil else { throw ObjectStoreError(.notFound, "no such multipart upload") }
        // Written under a name of its own, then named by number and content: two uploads of one
        // number never overwrite each other, and completion reads exactly the part it was told.
        let pending = "\(multipartDirectoryKey(uploadID))/pending-\(UUID().uuidString.lowercased())"
        let written = try await writeFile(
            pending, body: body, contentType: "application/octet-stream", cacheControl: "", keepingPartialBody: false)
        if let failure = written.bodyFailure { throw failure }
        let part = StoredPart(number: number, eTag: written.info!.eTag, size: written.info!.size)
        let pendingPath = try mapping.path(for: pending)
        let finalPath = try mapping.path(for: partKey(uploadID, part))
        try await blocking { () throws(ObjectStoreError) in try PosixFile.rename(pendingPath, to: finalPath) }
        return part
    }

    /// A part's file: its number and the MD5 its ETag carries.
    func partKey(_ uploadID: String, _ part: StoredPart) -> String {
        "\(multipartDirectoryKey(uploadID))/\(part.number)-\(part.eTag.filter { $0 != "\"" })"
    }

    public func completeMultipartUpload(_ key: String, uploadID: String, parts: [StoredPart], logger: Logger) async throws -> ObjectInfo {
        let finalPath = try mapping.path(for: key)
        let metaPath = try mapping.path(for: "\(multipartDirectoryKey(uploadID))/\(Self.multipartMeta)")
        let partPaths = try parts.map { part throws(ObjectStoreError) in try mapping.path(for: partKey(uploadID, part)) }
        let temporaryPath = "\(temporaryDirectory)/\(UUID().uuidString.lowercased())"
        let eTag = Self.multipartETag(parts)
        let info = try await blocking { () throws(ObjectStoreError) -> ObjectInfo in
            let meta = try readInfo(metaPath)
            let contentType = meta.contentType ?? "application/octet-stream"
            let cacheControl = meta.cacheControl ?? "no-cache"
            let output = try PosixFile.open(temporaryPath, flags: O_WRONLY | O_CREAT | O_EXCL)
            do throws(ObjectStoreError) {
                for (part, path) in zip(parts, partPaths) {
                    let input: Int32
                    do throws(ObjectStoreError) {
                        input = try PosixFile.open(path, flags: O_RDONLY)
                    } catch where error.code == .notFound {
                        throw ObjectStoreError(.invalidPart, "part \(part.number) with ETag \(part.eTag) is not stored")
                    }
                    defer { PosixFile.close(input) }
                    try PosixFile.copyContents(from: input, to: output, size: part.size, path: temporaryPath)
                }
                PosixFile.setAttribute(output, name: "content-type", value: contentType)
                PosixFile.setAttribute(output, name: "cache-control", value: cacheControl)
                PosixFile.setAttribute(output, name: "etag", value: eTag)
                try PosixFile.fsync(output, path: temporaryPath)
                let status = try PosixFile.status(fd: output, path: temporaryPath)
                PosixFile.close(output)
                return ObjectInfo(
                    size: status.size, eTag: eTag, lastModified: status.modified, contentType: contentType,
                    cacheControl: cacheControl)
            } catch {
                PosixFile.close(output)
                try? PosixFile.unlink(temporaryPath)
                throw error
            }
        }
        do {
            try await moveIntoPlace(temporaryPath, finalPath)
        } catch {
            try? await blocking { () throws(ObjectStoreError) in try PosixFile.unlink(temporaryPath) }
            throw error
        }
        try? await deleteObjects(under: multipartDirectoryKey(uploadID), logger: logger)
        return info
    }

    public func abortMultipartUpload(_ key: String, uploadID: String, logger: Logger) async throws {
        try await deleteObjects(under: multipartDirectoryKey(uploadID), logger: logger)
    }

    /// S3's ETag of a multipart object: the MD5 of the parts' binary MD5s, then `-<count>`.
    static func multipartETag(_ parts: [StoredPart]) -> String {
        var md5 = Insecure.MD5()
        for part in parts {
            let hex = part.eTag.filter { $0 != "\"" }
            md5.update(data: [UInt8](hexadecimal: hex) ?? [])
        }
        return "\"\(md5.finalize().lowercaseHex)-\(parts.count)\""
    }

}

