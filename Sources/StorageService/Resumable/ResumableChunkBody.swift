import Crypto
import NIOCore
import StorageCore
import Synchronization

/// A chunk's body as the store reads it: at most the bytes the upload may still take, stopped
/// when the lease goes, and hashed when the client sent a checksum.
final class ResumableChunkBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer

    private let base: Base
    private let plan: ResumableUpload.PatchPlan
    private let hold: LeaseHold
    private let hasher: Mutex<ChunkHasher?>

    init(base: Base, plan: ResumableUpload.PatchPlan, hold: LeaseHold, checksum: UploadChecksum?) {
        self.base = base
        self.plan = plan
        self.hold = hold
        self.hasher = Mutex(checksum.map { ChunkHasher($0.algorithm) })
    }

    /// The digest of every byte read (checksum requests only).
    func digest() -> [UInt8]? {
        hasher.withLock { $0?.finalize() }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let owner: ResumableChunkBody
        var count: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            if owner.hold.stopRequested { throw TusErrors.released }
            guard let chunk = try await base.next() else { return nil }
            if owner.hold.stopRequested { throw TusErrors.released }
            count += Int64(chunk.readableBytes)
            try owner.plan.checkBody(count)
            owner.hasher.withLock { hasher in
                chunk.withUnsafeReadableBytes { hasher?.update($0) }
            }
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), owner: self) }
}

/// One of the checksum algorithms TUS clients use.
struct ChunkHasher: Sendable {
    private enum State: Sendable {
        case sha256(SHA256)
        case sha1(Insecure.SHA1)
        case md5(Insecure.MD5)
    }

    private var state: State

    init(_ algorithm: UploadChecksum.Algorithm) {
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha1: state = .sha1(Insecure.SHA1())
        case .md5: state = .md5(Insecure.MD5())
        }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .sha256(var hash): hash.update(bufferPointer: bytes); state = .sha256(hash)
        case .sha1(var hash): hash.update(bufferPointer: bytes); state = .sha1(hash)
        case .md5(var hash): hash.update(bufferPointer: bytes); state = .md5(hash)
        }
    }

    func finalize() -> [UInt8] {
        switch state {
        case .sha256(let hash): Array(hash.finalize())
        case .sha1(let hash): Array(hash.finalize())
        case .md5(let hash): Array(hash.finalize())
        }
    }
}
