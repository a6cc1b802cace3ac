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

/// File mode writes a resumable upload in place: one data file in the shared directory, each
/// chunk written at its offset and fsynced before it is recorded, and the finished file linked
/// into place (no copy). A chunk holds the file's exclusive lock while it writes, so a writer
/// that lost its lease but still runs (paused, not yet dead) keeps others out rather than
/// writing under them; bytes past the recorded offset are never trusted, only overwritten or
/// cut off. The recorded chunks are one piece entry whose MD5 state is saved with it and resumed by
/// the next chunk, so the record stays small and the object's ETag is the MD5 of its bytes.
extension FileObjectStore {
    public func receiveChunk<Body: AsyncSequence & Sendable>(
        _ body: Body, length: Int64?, after pieces: ResumablePieces, target: ResumableTarget,
        ledger: some ResumableLedger, logger: Logger
    ) async throws -> ResumablePieces where Body.Element == ByteBuffer {
        if length == 0 { return pieces }
        let key = target.dataKey
        let path = try mapping.path(for: key)
        let offset = pieces.size
        let fd = try await blocking { () throws(ObjectStoreError) -> Int32 in
            try PosixFile.makeDirectories(PosixFile.parentDirectory(of: path))
            // Only the first chunk creates the file: a late writer must not resurrect a discarded upload.
            let fd = try PosixFile.open(path, flags: offset == 0 ? O_WRONLY | O_CREAT : O_WRONLY)
            do throws(ObjectStoreError) {
                try PosixFile.lockExclusively(fd, path: path)
                try PosixFile.seek(fd, to: offset, path: path)
            } catch {
                PosixFile.close(fd)
                throw error
            }
            return fd
        }
        do {
            // Fenced while holding the lock: a writer whose lease was taken over stops here, before
            // it could overwrite bytes the new holder recorded (or a published object's inode).
            _ = try await ledger.reserve(.piece)
        } catch {
            await close(fd)
            throw error
        }
        do {
            // A client that goes away mid-chunk keeps what arrived: TUS clients resume from the offset.
            // The chunk extends the last piece when its hash can be resumed: one piece however
            // many chunks, so recording a chunk costs the same at the first and the millionth.
            let last = pieces.pieces.last
            let resumed = last.flatMap { $0.key == key ? $0.md5State.flatMap(ResumableMD5.init(savedState:)) : nil }
            let streamed = try await stream(body, into: fd, path: path, hasher: resumed ?? ResumableMD5())
            var result = pieces
            if streamed.size > 0 {
                try await blocking { () throws(ObjectStoreError) in try PosixFile.fsync(fd, path: path) }
                let md5 = streamed.hasher.digestBytes().lowercaseHex
                if let last, resumed != nil {
                    result.pieces[result.pieces.count - 1] = .init(
                        key: key, size: last.size + streamed.size, md5: md5, md5State: streamed.hasher.savedState)
                } else {
                    result.pieces.append(.init(key: key, size: streamed.size, md5: md5, md5State: streamed.hasher.savedState))
                }
                try await ledger.record(result)
            }
            await close(fd)
            if let failure = streamed.bodyFailure { throw failure }
            return result
        } catch {
            await close(fd)
            throw error
        }
    }

    public func assemble(
        _ pieces: ResumablePieces, target: ResumableTarget, ledger: some ResumableLedger, logger: Logger
    ) async throws -> ObjectInfo {
        guard !pieces.pieces.isEmpty else {
            return try await putObject(
                target.objectKey, body: ByteStream.empty, contentLength: 0, contentType: target.contentType,
                cacheControl: target.cacheControl, logger: logger)
        }
        guard let eTag = pieces.combinedETag() else {
            throw ObjectStoreError(.io, "a chunk of \(target.objectKey) has no valid MD5")
        }
        let dataPath = try mapping.path(for: target.dataKey)
        let finalPath = try mapping.path(for: target.objectKey)
        let temporaryPath = "\(temporaryDirectory)/\(UUID().uuidString.lowercased())"
        let total = pieces.size
        let status = try await blocking { () throws(ObjectStoreError) -> PosixFile.Status in
            let fd = try PosixFile.open(dataPath, flags: O_WRONLY)
            defer { PosixFile.close(fd) }
            try PosixFile.lockExclusively(fd, path: dataPath)
            // Whatever an unrecorded attempt wrote past the end goes.
            try PosixFile.truncate(fd, to: total, path: dataPath)
            PosixFile.setAttribute(fd, name: "content-type", value: target.contentType)
            PosixFile.setAttribute(fd, name: "cache-control", value: target.cacheControl)
            PosixFile.setAttribute(fd, name: "etag", value: eTag)
            try PosixFile.fsync(fd, path: dataPath)
            let status = try PosixFile.status(fd: fd, path: dataPath)
            try PosixFile.link(dataPath, to: temporaryPath)
            return status
        }
        try await moveIntoPlace(temporaryPath, finalPath)
        // If the object already was this file (a repeated assembly), rename leaves both names.
        try? await blocking { () throws(ObjectStoreError) in try PosixFile.unlink(temporaryPath) }
        return ObjectInfo(
            size: total, eTag: eTag, lastModified: status.modified, contentType: target.contentType,
            cacheControl: target.cacheControl)
    }

    public func discard(_ pieces: ResumablePieces, target: ResumableTarget, logger: Logger) async throws {
        // The data file even when no chunk was recorded: a refused writer may have started it; and
        // the object, which a completion that lost its lease before writing the row leaves.
        try await deleteObjects(Array(Set(pieces.pieces.map(\.key) + [target.dataKey, target.objectKey])), logger: logger)
    }

    private func close(_ fd: Int32) async {
        try? await blocking { () throws(ObjectStoreError) in PosixFile.close(fd) }
    }
}

extension ResumableTarget {
    /// File mode's one data file, beside the upload's pieces.
    var dataKey: String { "\(piecePrefix)/data" }
}

extension ResumablePieces {
    /// The multipart-style ETag of an object made of pieces: the MD5 of the pieces' binary MD5s
    /// followed by `-<count>`, as S3 tags multipart objects; a single piece keeps its own MD5.
    func combinedETag() -> String? {
        guard pieces.count > 1 else { return pieces.first.map { "\"\($0.md5)\"" } }
        var digests: [UInt8] = []
        for piece in pieces {
            guard let bytes = [UInt8](hexadecimal: piece.md5) else { return nil }
            digests += bytes
        }
        return "\"\(Insecure.MD5.hash(data: digests).lowercaseHex)-\(pieces.count)\""
    }
}
