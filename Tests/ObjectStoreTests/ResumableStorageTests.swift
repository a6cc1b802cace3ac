import Logging
import Crypto
import Foundation
import NIOCore
import S3
import Synchronization
import Testing

@testable import FileBackend
@testable import ObjectStore
@testable import S3Backend

private let logger = Logger(label: "tests")

/// A ledger without a database: hands out numbers, keeps what is recorded, and deletes the
/// pieces a recording drops, as the service's ledger does. `refuse` plays a fenced-out writer.
final class MemoryLedger: ResumableLedger {
    struct Refused: Error {}

    let store: any ObjectStore
    let refuse: Bool
    let defersRecords: Bool
    private let state = Mutex<(numbers: [ResumableNumberKind: Int], recorded: [ResumablePieces], current: ResumablePieces)>(
        ([:], [], ResumablePieces()))

    init(
        store: any ObjectStore, starting: ResumablePieces = ResumablePieces(), refuse: Bool = false,
        defersRecords: Bool = false
    ) {
        self.store = store
        self.refuse = refuse
        self.defersRecords = defersRecords
        state.withLock { $0.current = starting }
    }

    var current: ResumablePieces { state.withLock { $0.current } }
    var recordings: Int { state.withLock { $0.recorded.count } }

    func reserve(_ kind: ResumableNumberKind) async throws -> Int {
        state.withLock { state in
            let next = state.numbers[kind, default: 0] + 1
            state.numbers[kind] = next
            return next
        }
    }

    func record(_ pieces: ResumablePieces) async throws {
        if refuse { throw Refused() }
        let dropped = state.withLock { state -> [String] in
            let dropped = state.current.piecesDropped(by: pieces)
            state.current = pieces
            state.recorded.append(pieces)
            return dropped
        }
        try await store.deleteObjects(dropped, logger: logger)
    }
}

/// Every key the store holds (objects and pieces), and multipart uploads in progress.
func storedKeys(_ store: any ObjectStore) async throws -> (keys: Set<String>, uploads: Int) {
    if let s3 = store as? S3ObjectStore {
        let keys = try await s3.client.listObjectsV2(logger: logger).entries.map(\.key)
        return (Set(keys), try await s3.client.listMultipartUploads(logger: logger).count)
    }
    let file = store as! FileObjectStore
    let root = file.mapping.root
    var keys: Set<String> = []
    if let walker = FileManager.default.enumerator(atPath: root) {
        for case let path as String in walker {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
                keys.insert(path)
            }
        }
    }
    return (keys, 0)
}

@Suite(.serialized) struct ResumableStorageTests {
    static let target = ResumableTarget(
        objectKey: "t/b/resumable.bin/v1", piecePrefix: "__resumable/t/v1", contentType: "video/mp4", cacheControl: "max-age=9")
    static let part = Backend.partSize

    /// Sends `data` in chunks of `sizes` (declared or not), as separate requests would.
    static func upload(
        _ data: [UInt8], sizes: [Int], declared: Bool, store: any ObjectStore, ledger: MemoryLedger
    ) async throws {
        var offset = 0
        for size in sizes {
            let chunk = Array(data[offset..<(offset + size)])
            let pieces = try await store.receiveChunk(
                ScriptedBody(chunks: chunks(chunk, size: 100_000)), length: declared ? Int64(size) : nil,
                after: ledger.current, target: target, ledger: ledger, logger: logger)
            #expect(pieces == ledger.current)
            offset += size
            #expect(ledger.current.size == Int64(offset))
        }
    }

    @Test(arguments: Backend.available, [
        [1, 999, 3],
        [part - 10, 20, part, 7],
        [part, part, 1],
        [2 * part + 5, part / 2, 3 * part],
        [0, 17, 0],
    ])
    func chunksOfAnySizeBecomeTheObject(_ backend: Backend, sizes: [Int]) async throws {
        try await backend.withStore { store async throws in
            for declared in [true, false] {
                let data = pattern(sizes.reduce(0, +), seed: sizes.count)
                let ledger = MemoryLedger(store: store)
                try await Self.upload(data, sizes: sizes, declared: declared, store: store, ledger: ledger)
                // Only what is too small for a part waits in pieces: S3 parts take the rest.
                if backend == .s3 {
                    #expect(ledger.current.pieces.reduce(0) { $0 + $1.size } < Int64(S3ObjectStore.minimumPartSize))
                }
                let info = try await store.assemble(ledger.current, target: Self.target, ledger: ledger, logger: logger)
                #expect(info.size == Int64(data.count))
                let content = try await store.getObject(Self.target.objectKey, conditions: ReadConditions(), logger: logger)
                #expect(try await collect(content) == data)
                #expect(content.info.contentType == "video/mp4" && content.info.cacheControl == "max-age=9")
                let singleWrite = backend == .s3 ? ledger.current.parts.isEmpty : ledger.current.pieces.count <= 1
                if singleWrite {
                    #expect(info.eTag == md5ETag(data))
                } else {
                    #expect(info.eTag.hasSuffix("-\(ledger.current.pieces.count + ledger.current.parts.count)\""))
                }
                // Assembling again (a retry after a crash) writes the same object.
                let again = try await store.assemble(ledger.current, target: Self.target, ledger: ledger, logger: logger)
                #expect(again.size == info.size)
                #expect(try await collect(try await store.getObject(Self.target.objectKey, conditions: ReadConditions(), logger: logger)) == data)
                // Once the caller drops the pieces, only the object is left.
                try await store.deleteObjects(ledger.current.pieces.map(\.key), logger: logger)
                let left = try await storedKeys(store)
                #expect(left.keys.filter { $0.contains("__resumable") }.isEmpty && left.uploads == 0, "\(left)")
                try await store.deleteObjects([Self.target.objectKey], logger: logger)
            }
        }
    }

    /// Chunks sent with a checksum are never merged, so their pieces are capped: past the cap a
    /// chunk is refused (tooManyParts, a 413 to the client) and the recorded state stays; a chunk
    /// large enough for a part still takes every waiting piece into it.
    @Test func checksumPiecesAreCapped() async throws {
        guard Backend.available.contains(.s3) else { return }
        try await Backend.s3.withStore { store async throws in
            let ledger = MemoryLedger(store: store, defersRecords: true)
            let cap = S3ObjectStore.maximumWaitingPieces
            try await Self.upload(pattern(cap), sizes: Array(repeating: 1, count: cap), declared: true, store: store, ledger: ledger)
            #expect(ledger.current.pieces.count == cap)
            let before = ledger.current
            let refused = await #expect(throws: ObjectStoreError.self) {
                _ = try await store.receiveChunk(
                    ScriptedBody(chunks: [ByteBuffer(bytes: [7])]), length: 1, after: ledger.current, target: Self.target, ledger: ledger, logger: logger)
            }
            #expect(refused?.code == .tooManyParts)
            #expect(ledger.current == before)
            let pieceKeys = try await storedKeys(store).keys.filter { $0.contains("__resumable") }
            #expect(pieceKeys.count == cap)
            _ = try await store.receiveChunk(
                ScriptedBody(chunks: chunks(pattern(Self.part), size: 100_000)), length: Int64(Self.part),
                after: ledger.current, target: Self.target, ledger: ledger, logger: logger)
            // The part is the 1000 waiting bytes and the chunk's first bytes; its last 1000 wait alone.
            #expect(ledger.current.parts.count == 1 && ledger.current.pieces.map(\.size) == [Int64(cap)])
            try await store.discard(ledger.current, target: Self.target, logger: logger)
        }
    }

    /// A client gone mid-chunk keeps what was recorded; the upload continues from there.
    @Test(arguments: Backend.available)
    func aBrokenChunkKeepsWhatWasRecorded(_ backend: Backend) async throws {
        try await backend.withStore { store async throws in
            let data = pattern(2 * Self.part + 300_000)
            let ledger = MemoryLedger(store: store)
            let sent = Self.part + 200_000
            await #expect(throws: ScriptedBody.Disconnected.self) {
                _ = try await store.receiveChunk(
                    ScriptedBody(chunks: chunks(Array(data[0..<sent])), failAtEnd: true), length: Int64(data.count),
                    after: ledger.current, target: Self.target, ledger: ledger, logger: logger)
            }
            let kept = Int(ledger.current.size)
            // File mode keeps every byte that arrived; S3 keeps whole parts.
            #expect(kept == (backend == .file ? sent : Self.part))
            let rest = try await store.receiveChunk(
                ScriptedBody(chunks: chunks(Array(data[kept...]))), length: Int64(data.count - kept),
                after: ledger.current, target: Self.target, ledger: ledger, logger: logger)
            #expect(rest.size == Int64(data.count))
            _ = try await store.assemble(rest, target: Self.target, ledger: ledger, logger: logger)
            #expect(try await collect(try await store.getObject(Self.target.objectKey, conditions: ReadConditions(), logger: logger)) == data)
        }
    }

    /// A writer whose recordings are refused (another request took over) leaves no piece behind.
    @Test(arguments: Backend.available, [1000, Backend.partSize + 10])
    func aFencedWriterLeavesNoPieces(_ backend: Backend, size: Int) async throws {
        try await backend.withStore { store async throws in
            let ledger = MemoryLedger(store: store, refuse: true)
            await #expect(throws: (any Error).self) {
                _ = try await store.receiveChunk(
                    ScriptedBody(chunks: chunks(pattern(size))), length: Int64(size), after: ResumablePieces(),
                    target: Self.target, ledger: ledger, logger: logger)
            }
            #expect(ledger.recordings == 0)
            // S3 pieces are the writer's own and go at once; file mode's data file is the upload's
            // and goes with it.
            let left = try await storedKeys(store)
            #expect(left.uploads == 0 && left.keys == (backend == .file ? ["__resumable/t/v1/data"] : []), "\(left)")
            try await store.discard(ResumablePieces(), target: Self.target, logger: logger)
            #expect(try await storedKeys(store).keys.isEmpty)
        }
    }

    /// A writer that lost its lease but still runs keeps the data file locked: nobody writes
    /// under it, the newcomer is told the file is busy.
    @Test func fileChunksExcludeEachOther() async throws {
        try await Backend.file.withStore { store async throws in
            let file = store as! FileObjectStore
            let ledger = MemoryLedger(store: store)
            try await Self.upload(pattern(10), sizes: [10], declared: true, store: store, ledger: ledger)
            let path = try file.mapping.path(for: Self.target.dataKey)
            let holder = try PosixFile.open(path, flags: O_WRONLY)
            try PosixFile.lockExclusively(holder, path: path)
            await #expect { _ = try await store.receiveChunk(
                ScriptedBody(chunks: [ByteBuffer(string: "more")]), length: 4, after: ledger.current,
                target: Self.target, ledger: ledger, logger: logger)
            } throws: { ($0 as? ObjectStoreError)?.code == .busy }
            PosixFile.close(holder)
            _ = try await store.receiveChunk(
                ScriptedBody(chunks: [ByteBuffer(string: "more")]), length: 4, after: ledger.current, target: Self.target,
                ledger: ledger, logger: logger)
            #expect(ledger.current.size == 14)
        }
    }

    @Test(arguments: Backend.available)
    func discardRemovesPiecesAndParts(_ backend: Backend) async throws {
        try await backend.withStore { store async throws in
            let ledger = MemoryLedger(store: store)
            try await Self.upload(pattern(Self.part + 1234), sizes: [Self.part + 1000, 234], declared: true, store: store, ledger: ledger)
            #expect(try await storedKeys(store).keys.count == (backend == .file ? 1 : 2))
            try await store.discard(ledger.current, target: Self.target, logger: logger)
            let left = try await storedKeys(store)
            #expect(left.keys.isEmpty && left.uploads == 0, "\(left)")
        }
    }

    @Test func combinedETagsFollowS3() {
        let one = ResumablePieces(pieces: [.init(key: "a", size: 1, md5: "0cc175b9c0f1b6a831c399e269772661")])
        #expect(one.combinedETag() == "\"0cc175b9c0f1b6a831c399e269772661\"")
        let two = ResumablePieces(pieces: [
            .init(key: "a", size: 1, md5: "0cc175b9c0f1b6a831c399e269772661"),
            .init(key: "b", size: 1, md5: "92eb5ffee6ae2fec3ad71c777531578f"),
        ])
        let digests = [UInt8](hexadecimal: "0cc175b9c0f1b6a831c399e26977266192eb5ffee6ae2fec3ad71c777531578f")!
        let expected = Insecure.MD5.hash(data: digests).map { String(format: "%02x", $0) }.joined()
        #expect(two.combinedETag() == "\"\(expected)-2\"")
        #expect(ResumablePieces(pieces: [.init(key: "a", size: 1, md5: "zz"), .init(key: "b", size: 1, md5: "00")]).combinedETag() == nil)
    }
}
