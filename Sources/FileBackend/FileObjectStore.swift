public import ObjectStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
public import Logging
public import NIOCore
public import NIOPosix
public import StorageCore
import WireFormats

/// Stores objects as files under a root directory (`STORAGE_MODE=file`, contract §7.1).
///
/// Layout: `<root>/<bucket>/<key>` where keys are `<tenant>/<bucket>/<name>/<version>`. Writes go
/// to a private temporary file that is fsynced and then renamed into place, so a reader sees
/// either nothing or the complete object. Content type, cache control and ETag are kept in
/// `user.supabase.*` extended attributes, as upstream does.
public struct FileObjectStore: ObjectStore {
    /// Bytes gathered before a write is handed to the thread pool.
    static let writeChunkSize = 1 << 20
    /// Bytes read per chunk when streaming a file out.
    static let readChunkSize = 256 << 10

    let mapping: FilePathMapping
    let temporaryDirectory: String
    private let threadPool: NIOThreadPool

    public func checkKey(_ key: String) throws(ObjectStoreError) {
        _ = try mapping.path(for: key)
    }

    public var backendName: String { "file" }

    /// Creates the store, making the root and the temporary directory if they are missing.
    ///
    /// - Parameters:
    ///   - root: absolute path of `FILE_STORAGE_BACKEND_PATH`.
    ///   - bucket: the backend bucket directory name inside `root` (`S3_BUCKET`, default `stub`).
    public init(root: String, bucket: String, threadPool: NIOThreadPool = .singleton) throws {
        let bucketDirectory = try FilePathMapping(root: root).path(for: bucket)
        self.mapping = FilePathMapping(root: bucketDirectory)
        self.temporaryDirectory = FilePathMapping(root: root).root + "/.tmp"
        self.threadPool = threadPool
        try PosixFile.makeDirectories(mapping.root)
        try PosixFile.makeDirectories(temporaryDirectory)
    }

    public func putObject<Body: AsyncSequence & Sendable>(
        _ key: String, body: Body, contentLength: Int64?, contentType: String, cacheControl: String, logger: Logger
    ) async throws -> ObjectInfo where Body.Element == ByteBuffer {
        let written = try await writeFile(
            key, body: body, contentType: contentType, cacheControl: cacheControl, keepingPartialBody: false)
        if let failure = written.bodyFailure { throw failure }
        return written.info!
    }

    /// Streams `body` into a new file at `key`: a private temporary file, fsynced, then renamed.
    ///
    /// If the body fails, nothing is left behind — unless `keepingPartialBody`, in which case
    /// the bytes received so far (if any) are stored as the file. The body's error is returned
    /// rather than thrown; write errors are thrown.
    func writeFile<Body: AsyncSequence & Sendable>(
        _ key: String, body: Body, contentType: String, cacheControl: String, keepingPartialBody: Bool
    ) async throws -> (info: ObjectInfo?, bodyFailure: (any Error)?) where Body.Element == ByteBuffer {
        let finalPath = try mapping.path(for: key)
        let temporaryPath = "\(temporaryDirectory)/\(UUID().uuidString.lowercased())"
        let fd = try await blocking { () throws(ObjectStoreError) in
            try PosixFile.open(temporaryPath, flags: O_WRONLY | O_CREAT | O_EXCL)
        }
        var isOpen = true
        do {
            let streamed = try await stream(body, into: fd, path: temporaryPath)
            if let failure = streamed.bodyFailure, !keepingPartialBody || streamed.size == 0 {
                try? await blocking { () throws(ObjectStoreError) in
                    PosixFile.close(fd)
                    try PosixFile.unlink(temporaryPath)
                }
                return (nil, failure)
            }
            let eTag = "\"\(streamed.md5.lowercaseHex)\""
            let status = try await blocking { () throws(ObjectStoreError) -> PosixFile.Status in
                PosixFile.setAttribute(fd, name: "content-type", value: contentType)
                PosixFile.setAttribute(fd, name: "cache-control", value: cacheControl)
                PosixFile.setAttribute(fd, name: "etag", value: eTag)
                try PosixFile.fsync(fd, path: temporaryPath)
                let status = try PosixFile.status(fd: fd, path: temporaryPath)
                PosixFile.close(fd)
                return status
            }
            isOpen = false
            try await moveIntoPlace(temporaryPath, finalPath)
            let info = ObjectInfo(
                size: streamed.size, eTag: eTag, lastModified: status.modified, contentType: contentType,
                cacheControl: cacheControl)
            return (info, streamed.bodyFailure)
        } catch {
            let stillOpen = isOpen
            try? await blocking { () throws(ObjectStoreError) in
                if stillOpen { PosixFile.close(fd) }
                try PosixFile.unlink(temporaryPath)
            }
            throw error
        }
    }

    /// Writes `body` to `fd` from its current position, hashing it. Returns the bytes written,
    /// their MD5, and the body's own failure if it had one (what arrived before it is written).
    /// Write errors are thrown, never while a write is still running on the pool.
    func stream<Body: AsyncSequence & Sendable>(
        _ body: Body, into fd: Int32, path: String
    ) async throws -> (size: Int64, md5: [UInt8], bodyFailure: (any Error)?) where Body.Element == ByteBuffer {
        let streamed = try await stream(body, into: fd, path: path, hasher: Insecure.MD5())
        return (streamed.size, streamed.hasher.digestBytes(), streamed.bodyFailure)
    }

    /// `stream(_:into:path:)` continuing `hasher` (a resumable upload's running MD5).
    func stream<Body: AsyncSequence & Sendable, Hasher: StreamHasher>(
        _ body: Body, into fd: Int32, path: String, hasher initial: Hasher
    ) async throws -> (size: Int64, hasher: Hasher, bodyFailure: (any Error)?) where Body.Element == ByteBuffer {
        // One chunk is hashed and written on the thread pool while the other slab fills from
        // the network, so receiving, hashing and writing overlap; the hash and the write of a
        // chunk run on two pool threads at once, since on two cores the hash alone can keep one
        // busy for the whole upload. Memory stays at two slabs,
        // allocated once per stream: a fresh megabyte per write cost a page fault and zeroing on
        // every first touch (a reused ByteBuffer would need to be uniquely referenced, and the
        // pool thread may still hold its copy when the write's result arrives).
        var inFlight: (hash: Task<Hasher, any Error>, write: Task<Void, any Error>)? = nil
        var slabs = (filling: GatherSlab(capacity: Self.writeChunkSize), spare: GatherSlab?.none)
        do {
            var hasher = initial
            var size: Int64 = 0
            var bodyFailure: (any Error)?
            func dispatch(_ source: WriteSource) async throws {
                if let previous = inFlight.take() { hasher = try await finish(previous) }
                let start = hasher
                inFlight = (
                    Task { try await hash(source, into: start) },
                    Task { try await write(source, to: fd, path: path) }
                )
            }
            func dispatchFilling() async throws {
                let full = slabs.filling
                try await dispatch(.slab(full))
                // The spare's write has finished (dispatch waited for it), so it can be refilled.
                slabs.filling = slabs.spare ?? GatherSlab(capacity: Self.writeChunkSize)
                slabs.filling.count = 0
                slabs.spare = full
            }
            var chunks = body.makeAsyncIterator()
            while true {
                let next: ByteBuffer?
                do {
                    next = try await chunks.next()
                } catch {
                    bodyFailure = error
                    break
                }
                guard var chunk = next else { break }
                size += Int64(chunk.readableBytes)
                if slabs.filling.count == 0, chunk.readableBytes >= Self.writeChunkSize {
                    try await dispatch(.buffer(chunk))
                    continue
                }
                while chunk.readableBytes > 0 {
                    slabs.filling.append(&chunk)
                    if slabs.filling.isFull { try await dispatchFilling() }
                }
            }
            if slabs.filling.count > 0 { try await dispatchFilling() }
            if let last = inFlight.take() { hasher = try await finish(last) }
            return (size, hasher, bodyFailure)
        } catch {
            if let last = inFlight.take() { _ = try? await finish(last) }
            throw error
        }
    }

    /// Waits for both halves of a dispatched chunk; the write's error wins, as it is the one
    /// that loses bytes. Neither is left running when this throws.
    private func finish<Hasher: StreamHasher>(
        _ pair: (hash: Task<Hasher, any Error>, write: Task<Void, any Error>)
    ) async throws -> Hasher {
        let hashed = await pair.hash.result
        try await pair.write.value
        return try hashed.get()
    }

    private func hash<Hasher: StreamHasher>(_ source: WriteSource, into hasher: Hasher) async throws -> Hasher {
        try await blocking { () throws(ObjectStoreError) -> Hasher in
            var hasher = hasher
            try source.withBytes { hasher.update(bufferPointer: $0) }
            return hasher
        }
    }

    /// Writes one chunk on the pool, then starts its writeback, so the disk works while the next
    /// chunk arrives and the final fsync has little left to wait for.
    private func write(_ source: WriteSource, to fd: Int32, path: String) async throws {
        try await blocking { () throws(ObjectStoreError) in
            try source.withBytes { bytes throws(ObjectStoreError) in try PosixFile.write(fd, bytes, path: path) }
            PosixFile.startWriteback(fd)
        }
    }

    /// Renames a complete temporary file to its final name, creating parent directories.
    /// A concurrent delete may remove an empty parent between mkdir and rename, so retry.
    func moveIntoPlace(_ temporaryPath: String, _ finalPath: String) async throws {
        let directory = PosixFile.parentDirectory(of: finalPath)
        try await blocking { () throws(ObjectStoreError) in
            var attempt = 0
            while true {
                try PosixFile.makeDirectories(directory)
                do throws(ObjectStoreError) {
                    try PosixFile.rename(temporaryPath, to: finalPath)
                    break
                } catch where error.code == .notFound && attempt < 5 {
                    attempt += 1
                }
            }
            PosixFile.fsyncDirectory(directory)
        }
    }

    public func getObject(_ key: String, conditions: ReadConditions, logger: Logger) async throws -> ObjectContent {
        let path = try mapping.path(for: key)
        let info = try await blocking { () throws(ObjectStoreError) in try readInfo(path) }
        if conditions.isNotModified(info) {
            return ObjectContent(info: info, outcome: .notModified, body: .empty)
        }
        var range: ClosedRange<Int64>? = nil
        var outcome = ReadOutcome.whole
        if let request = conditions.range {
            switch request.resolve(size: info.size) {
            case .partial(let resolved):
                range = resolved
                outcome = .partial(resolved)
            case .unsatisfiable:
                return ObjectContent(info: info, outcome: .rangeNotSatisfiable, body: .empty)
            }
        }
        let start = range?.lowerBound ?? 0
        let length = range.map { $0.upperBound - $0.lowerBound + 1 } ?? info.size
        let pool = threadPool
        let body = ByteStream {
            let reader = FileReader(path: path, offset: start, length: length, threadPool: pool)
            return { try await reader.next() }
        }
        return ObjectContent(info: info, outcome: outcome, body: body)
    }

    public func headObject(_ key: String, logger: Logger) async throws -> ObjectInfo {
        let path = try mapping.path(for: key)
        return try await blocking { () throws(ObjectStoreError) in try readInfo(path) }
    }

    func readInfo(_ path: String) throws(ObjectStoreError) -> ObjectInfo {
        let status = try PosixFile.status(path)
        guard status.isRegularFile else { throw ObjectStoreError(.notFound, "\(path) is not a file") }
        let eTag =
            PosixFile.attribute(path, name: "etag")
            ?? "\"\(String(Int64(status.modified.timeIntervalSince1970 * 1000), radix: 16))-\(String(status.size, radix: 16))\""
        return ObjectInfo(
            size: status.size, eTag: eTag, lastModified: status.modified,
            contentType: PosixFile.attribute(path, name: "content-type"),
            cacheControl: PosixFile.attribute(path, name: "cache-control"))
    }

    public func deleteObjects(_ keys: [String], logger: Logger) async throws {
        let paths = try keys.map { key throws(ObjectStoreError) in try mapping.path(for: key) }
        let stop = mapping.root
        try await blocking { () throws(ObjectStoreError) in
            for path in paths {
                try PosixFile.unlink(path)
                PosixFile.removeEmptyDirectories(from: PosixFile.parentDirectory(of: path), upTo: stop)
            }
        }
    }

    public func deleteObjects(under prefix: String, logger: Logger) async throws {
        let directory = try mapping.path(for: prefix)
        let stop = mapping.root
        try await blocking { () throws(ObjectStoreError) in
            guard FileManager.default.fileExists(atPath: directory) else { return }
            do {
                try FileManager.default.removeItem(atPath: directory)
            } catch {
                throw ObjectStoreError(.io, "removing \(directory)", underlying: error)
            }
            PosixFile.removeEmptyDirectories(from: PosixFile.parentDirectory(of: directory), upTo: stop)
        }
    }

    public func copyObject(
        from source: String, to destination: String, contentType: String?, cacheControl: String?, logger: Logger
    ) async throws -> ObjectInfo {
        let sourcePath = try mapping.path(for: source)
        let finalPath = try mapping.path(for: destination)
        let temporaryPath = "\(temporaryDirectory)/\(UUID().uuidString.lowercased())"
        let info = try await blocking { () throws(ObjectStoreError) -> ObjectInfo in
            let sourceInfo = try readInfo(sourcePath)
            let input = try PosixFile.open(sourcePath, flags: O_RDONLY)
            defer { PosixFile.close(input) }
            let output = try PosixFile.open(temporaryPath, flags: O_WRONLY | O_CREAT | O_EXCL)
            do throws(ObjectStoreError) {
                try PosixFile.copyContents(from: input, to: output, size: sourceInfo.size, path: temporaryPath)
                let type = contentType ?? sourceInfo.contentType ?? "application/octet-stream"
                let cache = cacheControl ?? sourceInfo.cacheControl ?? "no-cache"
                PosixFile.setAttribute(output, name: "content-type", value: type)
                PosixFile.setAttribute(output, name: "cache-control", value: cache)
                PosixFile.setAttribute(output, name: "etag", value: sourceInfo.eTag)
                try PosixFile.fsync(output, path: temporaryPath)
                let status = try PosixFile.status(fd: output, path: temporaryPath)
                PosixFile.close(output)
                return ObjectInfo(
                    size: status.size, eTag: sourceInfo.eTag, lastModified: status.modified,
                    contentType: type, cacheControl: cache)
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
        return info
    }

    public func checkHealth(logger: Logger) async throws {
        let directory = temporaryDirectory
        try await blocking { () throws(ObjectStoreError) in
            let probe = "\(directory)/.health-\(UUID().uuidString.lowercased())"
            let fd = try PosixFile.open(probe, flags: O_WRONLY | O_CREAT | O_EXCL)
            PosixFile.close(fd)
            try PosixFile.unlink(probe)
        }
    }

    /// Removes temporary files nobody has written to for `age` (left by a killed process).
    /// Live writers touch their file continuously, so they are never swept.
    public func sweepAbandonedTemporaryFiles(olderThan age: Duration) async throws -> Int {
        let directory = temporaryDirectory
        let cutoff = Date().addingTimeInterval(-Double(age.components.seconds))
        return try await blocking { () throws(ObjectStoreError) -> Int in
            var removed = 0
            for entry in try PosixFile.entries(of: directory) {
                let path = "\(directory)/\(entry.name)"
                if let status = try? PosixFile.status(path), status.modified < cutoff {
                    try? PosixFile.unlink(path)
                    removed += 1
                }
            }
            return removed
        }
    }

    public func perform(_ cleanup: BackendCleanup, logger: Logger) async throws {
        // A failed write leaves only its temporary file, which the write removes itself (or the
        // start-up sweep does after a crash); a multipart upload is its parts' directory.
        if case .multipart(let key, let uploadID) = cleanup {
            try await abortMultipartUpload(key, uploadID: uploadID, logger: logger)
            return
        }
        try await performDeletes(of: cleanup, logger: logger)
    }

    public func listKeys(
        under prefix: String, batchSize: Int, logger: Logger, _ visit: ([StoredKey]) async throws -> Void
    ) async throws {
        let top = try mapping.path(for: prefix)
        var batch: [StoredKey] = []
        // Depth first, one directory read per blocking call, so memory is one directory's names
        // per level whatever the size of the tree.
        var pending: [(path: String, key: String)] = [(top, prefix)]
        while let (directory, key) = pending.popLast() {
            let entries: [(name: String, isDirectory: Bool, modified: Date?)] = try await blocking {
                () throws(ObjectStoreError) in
                guard FileManager.default.fileExists(atPath: directory) else { return [] }
                return try PosixFile.entries(of: directory).map { entry in
                    let modified = entry.isDirectory ? nil : (try? PosixFile.status("\(directory)/\(entry.name)"))?.modified
                    return (entry.name, entry.isDirectory, modified)
                }
            }
            for entry in entries {
                let childKey = key + "/" + FilePathMapping.segment(forComponent: entry.name)
                if entry.isDirectory {
                    pending.append(("\(directory)/\(entry.name)", childKey))
                } else {
                    batch.append(StoredKey(key: childKey, lastModified: entry.modified))
                    if batch.count >= batchSize {
                        try await visit(batch)
                        batch.removeAll(keepingCapacity: true)
                    }
                }
            }
        }
        if !batch.isEmpty { try await visit(batch) }
    }

    func blocking<Result: Sendable>(
        _ work: @escaping @Sendable () throws(ObjectStoreError) -> Result
    ) async throws -> Result {
        try await threadPool.runIfActive { try work() }
    }
}

/// What one write of `FileObjectStore.stream` takes: a received chunk as it came, or a slab of
/// gathered smaller ones.
enum WriteSource: Sendable {
    case buffer(ByteBuffer)
    case slab(GatherSlab)

    func withBytes(_ body: (UnsafeRawBufferPointer) throws(ObjectStoreError) -> Void) throws(ObjectStoreError) {
        switch self {
        case .buffer(let buffer):
            // withUnsafeReadableBytes rethrows untyped; the typed error travels through a Result.
            let outcome: Result<Void, ObjectStoreError> = buffer.withUnsafeReadableBytes { bytes in
                Result { () throws(ObjectStoreError) in try body(bytes) }
            }
            try outcome.get()
        case .slab(let slab):
            try body(UnsafeRawBufferPointer(rebasing: slab.memory[..<slab.count]))
        }
    }
}

/// Memory that received chunks are copied into until a write's worth has gathered. A stream
/// owns two and alternates them; a slab is either being filled by the stream or being read by
/// its chunk's hash and write, never both, which is why it may be shared unchecked.
final class GatherSlab: @unchecked Sendable {
    let memory: UnsafeMutableRawBufferPointer
    var count = 0

    init(capacity: Int) {
        memory = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { memory.deallocate() }

    var isFull: Bool { count == memory.count }

    /// Copies as much of `chunk` as fits, moving its reader index past what was taken.
    func append(_ chunk: inout ByteBuffer) {
        let taken = min(memory.count - count, chunk.readableBytes)
        chunk.withUnsafeReadableBytes { bytes in
            UnsafeMutableRawBufferPointer(rebasing: memory[count..<count + taken])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<taken]))
        }
        chunk.moveReaderIndex(forwardBy: taken)
        count += taken
    }
}

/// Reads a byte range of a file in chunks on a thread pool. The descriptor opens on the first
/// read and closes at the end, on error, or when the reader is dropped (client went away).
private final class FileReader: @unchecked Sendable {
    private let path: String
    private var offset: Int64
    private var remaining: Int64
    private let threadPool: NIOThreadPool
    private var fd: Int32 = -1

    init(path: String, offset: Int64, length: Int64, threadPool: NIOThreadPool) {
        self.path = path
        self.offset = offset
        self.remaining = length
        self.threadPool = threadPool
    }

    deinit {
        if fd >= 0 { PosixFile.close(fd) }
    }

    func next() async throws -> ByteBuffer? {
        guard remaining > 0 else {
            closeDescriptor()
            return nil
        }
        let path = self.path
        let offset = self.offset
        let length = Int(min(remaining, Int64(FileObjectStore.readChunkSize)))
        if fd < 0 {
            fd = try await threadPool.runIfActive { () throws(ObjectStoreError) in
                try PosixFile.open(path, flags: O_RDONLY)
            }
        }
        let fd = self.fd
        let chunk = try await threadPool.runIfActive { () throws(ObjectStoreError) in
            try PosixFile.read(fd, offset: offset, length: length, path: path)
        }
        guard chunk.readableBytes > 0 else {
            closeDescriptor()
            throw ObjectStoreError(.io, "\(path) is shorter than expected")
        }
        self.offset += Int64(chunk.readableBytes)
        remaining -= Int64(chunk.readableBytes)
        return chunk
    }

    private func closeDescriptor() {
        if fd >= 0 {
            PosixFile.close(fd)
            fd = -1
        }
    }
}
