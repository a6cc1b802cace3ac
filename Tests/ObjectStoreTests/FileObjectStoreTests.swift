import Crypto
import Foundation
import Logging
import NIOCore
import StorageCore
import Testing

@testable import FileBackend
@testable import ObjectStore
@testable import S3Backend

private let logger = Logger(label: "tests")

@Suite struct FilePathMappingTests {
    let mapping = FilePathMapping(root: "/srv/storage/stub")

    @Test func ordinaryKeysKeepUpstreamsLayout() throws {
        #expect(try mapping.path(for: "tenant/bucket/folder/file.txt/v1") == "/srv/storage/stub/tenant/bucket/folder/file.txt/v1")
        #expect(try mapping.path(for: "t/b/a b+c(1).png/v") == "/srv/storage/stub/t/b/a b+c(1).png/v")
    }

    @Test(arguments: [
        ("t/b/../../../etc/passwd/v", "/srv/storage/stub/t/b/%2E%2E/%2E%2E/%2E%2E/etc/passwd/v"),
        ("t/b/./x/v", "/srv/storage/stub/t/b/%2E/x/v"),
        ("t/b//x/v", "/srv/storage/stub/t/b/%/x/v"),
        ("t/b/x//v", "/srv/storage/stub/t/b/x/%/v"),
        ("/abs/v", "/srv/storage/stub/%/abs/v"),
        ("t/b/%2F/v", "/srv/storage/stub/t/b/%252F/v"),
        ("t/b/.../v", "/srv/storage/stub/t/b/.../v"),
    ])
    func keysCannotEscapeTheRoot(_ key: String, _ expected: String) throws {
        let path = try mapping.path(for: key)
        #expect(path == expected)
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        #expect(!components.contains("..") && !components.contains("."))
        #expect(path.hasPrefix(mapping.root + "/"))
        #expect(!path.dropFirst(mapping.root.count + 1).contains("//"))
    }

    /// Listing reads keys back from paths (reconcile): every component maps back to its segment.
    @Test func pathsMapBackToTheirKeys() throws {
        let keys = ["a/b", "a//b", "a/%/b", "a/%25/b", "a/./b", "a/%2E/b", "a/../b", "a/%2E%2E/b", "/x", "a/b%c/d"]
        for key in keys {
            let path = try mapping.path(for: key)
            let components = path.dropFirst(mapping.root.count + 1).split(separator: "/", omittingEmptySubsequences: false)
            #expect(components.map { FilePathMapping.segment(forComponent: String($0)) }.joined(separator: "/") == key)
        }
    }

    @Test func distinctKeysGetDistinctPaths() throws {
        let keys = ["a/b", "a//b", "a/%/b", "a/%25/b", "a/./b", "a/%2E/b", "a/../b", "a/%2E%2E/b"]
        let paths = try keys.map { try mapping.path(for: $0) }
        #expect(Set(paths).count == keys.count)
    }

    @Test func refusesUnstorableKeys() {
        #expect(throws: ObjectStoreError.self) { try mapping.path(for: "") }
        #expect(throws: ObjectStoreError.self) { try mapping.path(for: "a/nul\u{0}/b") }
        #expect(throws: ObjectStoreError.self) { try mapping.path(for: "a/" + String(repeating: "x", count: 256)) }
        #expect(throws: Never.self) { try mapping.path(for: "a/" + String(repeating: "x", count: 255)) }
    }
}

/// Yields the given chunks, then optionally fails: a client that disconnects mid-upload.
struct ScriptedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    struct Disconnected: Error {}
    var chunks: [ByteBuffer]
    var failAtEnd = false

    struct AsyncIterator: AsyncIteratorProtocol {
        var chunks: [ByteBuffer]
        let failAtEnd: Bool
        mutating func next() async throws -> ByteBuffer? {
            if chunks.isEmpty {
                if failAtEnd { throw Disconnected() }
                return nil
            }
            return chunks.removeFirst()
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunks: chunks, failAtEnd: failAtEnd) }
}

/// Behaviour only the file store has: its layout, temporary files and their sweeping.
@Suite struct FileObjectStoreTests {
    let root: String
    let store: FileObjectStore

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("file-store-\(UUID().uuidString)").path
        store = try FileObjectStore(root: root, bucket: "stub")
    }

    func temporaryFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root + "/.tmp")
    }

    @Test func bytesLandAtUpstreamsLayoutWithAttributes() async throws {
        _ = try await store.putObject(
            "t/b/photo.png/v1", body: ScriptedBody(chunks: [ByteBuffer(string: "12345")]), contentLength: 5,
            contentType: "image/png", cacheControl: "max-age=60", logger: logger)
        #expect(try FileManager.default.attributesOfItem(atPath: root + "/stub/t/b/photo.png/v1")[.size] as? Int == 5)
        #expect(try temporaryFiles().isEmpty)
    }

    @Test func readersNeverSeeAPartialObject() async throws {
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        let writer = Task {
            try await store.putObject("t/b/slow/v", body: stream, contentLength: nil, contentType: "x/y", cacheControl: "no-cache", logger: logger)
        }
        continuation.yield(ByteBuffer(repeating: 1, count: 100_000))
        // Wait (on a busy thread pool) until the writer has its temporary file.
        let deadline = ContinuousClock.now + .seconds(10)
        while try temporaryFiles().isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try temporaryFiles().count == 1)
        #expect(!FileManager.default.fileExists(atPath: root + "/stub/t/b/slow/v"))
        continuation.yield(ByteBuffer(repeating: 2, count: 50_000))
        continuation.finish()
        #expect(try await writer.value.size == 150_000)
        #expect(try temporaryFiles().isEmpty)
    }


    /// Chunks are gathered into megabyte slabs, split across them, or written as they came when
    /// large: whatever the mix, the file holds the bytes in order and the ETag is their MD5.
    @Test(arguments: [
        [1, 300_001, 2_100_000, 65_536, 3 << 20, 7],  // a large chunk while a slab is part full
        [1 << 20, 1 << 20, 5],  // exactly one slab's worth, twice, then a remainder
        [(1 << 20) - 1, 2, (1 << 20) - 1],  // slab edges one byte either side
        [3 << 20],  // one chunk bigger than a slab
    ])
    func chunksOfAnyMixLandInOrder(sizes: [Int]) async throws {
        let data = pattern(sizes.reduce(0, +), seed: sizes.count)
        var chunks: [ByteBuffer] = []
        var offset = 0
        for size in sizes {
            chunks.append(ByteBuffer(bytes: data[offset..<offset + size]))
            offset += size
        }
        let info = try await store.putObject(
            "t/b/mixed/v", body: ScriptedBody(chunks: chunks), contentLength: nil, contentType: "x/y",
            cacheControl: "no-cache", logger: logger)
        #expect(info.eTag == md5ETag(data))
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: root + "/stub/t/b/mixed/v"))) == data)
    }
    @Test func aFailedWriteLeavesNoTemporaryFile() async throws {
        await #expect(throws: ScriptedBody.Disconnected.self) {
            try await store.putObject(
                "t/b/broken/v", body: ScriptedBody(chunks: [ByteBuffer(repeating: 1, count: 3_000_000)], failAtEnd: true),
                contentLength: nil, contentType: "x/y", cacheControl: "no-cache", logger: logger)
        }
        #expect(try temporaryFiles().isEmpty)
    }

    @Test func deleteRemovesEmptyFolders() async throws {
        for key in ["t/b/a/deep/file/v1", "t/b/a/keep/v1"] {
            _ = try await store.putObject(key, body: ScriptedBody(chunks: [ByteBuffer(string: "x")]), contentLength: 1, contentType: "x/y", cacheControl: "no-cache", logger: logger)
        }
        try await store.deleteObjects(["t/b/a/deep/file/v1"], logger: logger)
        #expect(!FileManager.default.fileExists(atPath: root + "/stub/t/b/a/deep"))
        #expect(FileManager.default.fileExists(atPath: root + "/stub/t/b/a/keep/v1"))
        try await store.deleteObjects(["t/b/a/keep/v1"], logger: logger)
        #expect(!FileManager.default.fileExists(atPath: root + "/stub/t"))
        #expect(FileManager.default.fileExists(atPath: root + "/stub"))
    }

    @Test func traversalKeysStayInside() async throws {
        _ = try await store.putObject(
            "t/b/../../../escape/v", body: ScriptedBody(chunks: [ByteBuffer(string: "x")]), contentLength: 1,
            contentType: "x/y", cacheControl: "no-cache", logger: logger)
        #expect(!FileManager.default.fileExists(atPath: root + "/escape"))
        #expect(FileManager.default.fileExists(atPath: root + "/stub/t/b/%2E%2E/%2E%2E/%2E%2E/escape/v"))
    }

    @Test func sweepsOnlyAbandonedPartialUploads() async throws {
        let stale = root + "/.tmp/stale"
        let fresh = root + "/.tmp/fresh"
        _ = FileManager.default.createFile(atPath: stale, contents: Data("x".utf8))
        _ = FileManager.default.createFile(atPath: fresh, contents: Data("x".utf8))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: stale)
        #expect(try await store.sweepAbandonedTemporaryFiles(olderThan: .seconds(3600)) == 1)
        #expect(try temporaryFiles() == ["fresh"])
    }
}
