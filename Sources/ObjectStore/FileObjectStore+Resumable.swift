#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
public import NIOCore

/// File mode keeps each chunk as one piece file in the shared directory; finishing links the
/// first piece into place and appends the others inside the kernel.
extension FileObjectStore {
    public func receiveChunk<Body: AsyncSequence & Sendable>(
        _ body: Body, length: Int64?, after pieces: ResumablePieces, target: ResumableTarget,
        ledger: some ResumableLedger
    ) async throws -> ResumablePieces where Body.Element == ByteBuffer {
        if length == 0 { return pieces }
        let key = target.pieceKey(try await ledger.reserve(.piece))
        // A client that goes away mid-chunk keeps what arrived: TUS clients resume from the offset.
        let written = try await writeFile(
            key, body: body, contentType: "application/octet-stream", cacheControl: "no-cache", keepingPartialBody: true)
        var result = pieces
        if let info = written.info {
            if info.size > 0 {
                result.pieces.append(.init(key: key, size: info.size, md5: String(info.eTag.dropFirst().dropLast())))
                do {
                    try await ledger.record(result)
                } catch {
                    try? await deleteObjects([key])
                    throw error
                }
            } else {
                try? await deleteObjects([key])
            }
        }
        if let failure = written.bodyFailure { throw failure }
        return result
    }

    public func assemble(
        _ pieces: ResumablePieces, target: ResumableTarget, ledger: some ResumableLedger
    ) async throws -> ObjectInfo {
        guard !pieces.pieces.isEmpty else {
            return try await putObject(
                target.objectKey, body: ByteStream.empty, contentLength: 0, contentType: target.contentType,
                cacheControl: target.cacheControl)
        }
        guard let eTag = pieces.combinedETag() else {
            throw ObjectStoreError(.io, "a piece of \(target.objectKey) has no valid MD5")
        }
        let piecePaths = try pieces.pieces.map { piece throws(ObjectStoreError) in try mapping.path(for: piece.key) }
        let sizes = pieces.pieces.map(\.size)
        let total = pieces.size
        let finalPath = try mapping.path(for: target.objectKey)
        let temporaryPath = "\(temporaryDirectory)/\(UUID().uuidString.lowercased())"
        let status = try await blocking { () throws(ObjectStoreError) -> PosixFile.Status in
            // The first piece becomes the object without a copy. Every writer of this step
            // appends the same committed pieces at the same offsets, so a repeat (or a
            // concurrent stale assembler) writes identical bytes, and the truncate drops
            // anything an interrupted attempt left beyond the end.
            try PosixFile.link(piecePaths[0], to: temporaryPath)
            let output = try PosixFile.open(temporaryPath, flags: O_WRONLY)
            do throws(ObjectStoreError) {
                var offset = sizes[0]
                for (path, size) in zip(piecePaths.dropFirst(), sizes.dropFirst()) {
                    let input = try PosixFile.open(path, flags: O_RDONLY)
                    defer { PosixFile.close(input) }
                    try PosixFile.seek(output, to: offset, path: temporaryPath)
                    try PosixFile.copyContents(from: input, to: output, size: size, path: temporaryPath)
                    offset += size
                }
                try PosixFile.truncate(output, to: total, path: temporaryPath)
                PosixFile.setAttribute(output, name: "content-type", value: target.contentType)
                PosixFile.setAttribute(output, name: "cache-control", value: target.cacheControl)
                PosixFile.setAttribute(output, name: "etag", value: eTag)
                try PosixFile.fsync(output, path: temporaryPath)
                let status = try PosixFile.status(fd: output, path: temporaryPath)
                PosixFile.close(output)
                return status
            } catch {
                PosixFile.close(output)
                try? PosixFile.unlink(temporaryPath)
                throw error
            }
        }
        try await moveIntoPlace(temporaryPath, finalPath)
        // If the object already was this inode (a repeated assembly), rename leaves both names.
        try? await blocking { () throws(ObjectStoreError) in try PosixFile.unlink(temporaryPath) }
        return ObjectInfo(
            size: total, eTag: eTag, lastModified: status.modified, contentType: target.contentType,
            cacheControl: target.cacheControl)
    }

    public func discard(_ pieces: ResumablePieces, target: ResumableTarget) async throws {
        try await deleteObjects(pieces.pieces.map(\.key))
    }
}
