import Crypto
import Foundation
import Logging
import NIOCore
import StorageCore
import Testing

@testable import ObjectStore

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

@Suite struct FileObjectStoreTests {
    let root: String
    let store: FileObjectStore

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("file-store-\(UUID().uuidString)").path
        store = try FileObjectStore(root: root, bucket: "stub", logger: Logger(label: "test"))
    }

    func bytes(_ count: Int, seed: UInt8 = 7) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }

    func chunks(_ data: [UInt8], size: Int) -> [ByteBuffer] {
        stride(from: 0, to: data.count, by: size).map { ByteBuffer(bytes: data[$0..<min($0 + size, data.count)]) }
    }

    func collect(_ content: ObjectContent) async throws -> [UInt8] {
        var result: [UInt8] = []
        for try await chunk in content.body { result += chunk.readableBytesView }
        return result
    }

    func temporaryFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root + "/.tmp")
    }

    @Test func putThenGetRoundTripsWithMD5ETag() async throws {
        let data = bytes(3_000_000)
        let info = try await store.putObject(
            "t/b/photo.png/v1", body: ScriptedBody(chunks: chunks(data, size: 65_536)), contentLength: nil,
            contentType: "image/png", cacheControl: "max-age=60")
        let md5 = Insecure.MD5.hash(data: data).map { String(format: "%02x", $0) }.joined()
        #expect(info.eTag == "\"\(md5)\"")
        #expect(info.size == Int64(data.count))
        let content = try await store.getObject("t/b/photo.png/v1", conditions: ReadConditions())
        #expect(content.outcome == .whole)
        #expect(try await collect(content) == data)
        let head = try await store.headObject("t/b/photo.png/v1")
        #expect(head.eTag == info.eTag && head.contentType == "image/png" && head.cacheControl == "max-age=60")
        #expect(try FileManager.default.attributesOfItem(atPath: root + "/stub/t/b/photo.png/v1")[.size] as? Int == data.count)
        #expect(try temporaryFiles().isEmpty)
    }

    @Test func emptyObjects() async throws {
        let info = try await store.putObject(
            "t/b/empty/v", body: ScriptedBody(chunks: []), contentLength: 0, contentType: "text/plain", cacheControl: "no-cache")
        #expect(info.size == 0 && info.eTag == "\"d41d8cd98f00b204e9800998ecf8427e\"")
        #expect(try await collect(store.getObject("t/b/empty/v", conditions: ReadConditions())).isEmpty)
    }

    @Test func aFailingBodyLeavesNothing() async throws {
        await #expect(throws: ScriptedBody.Disconnected.self) {
            try await store.putObject(
                "t/b/broken/v", body: ScriptedBody(chunks: chunks(bytes(2_500_000), size: 100_000), failAtEnd: true),
                contentLength: nil, contentType: "application/octet-stream", cacheControl: "no-cache")
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/stub/t/b/broken/v"))
        #expect(try temporaryFiles().isEmpty)
        await #expect { _ = try await store.headObject("t/b/broken/v") } throws: { ($0 as? ObjectStoreError)?.code == .notFound }
    }

    @Test func readersNeverSeeAPartialObject() async throws {
        // While a writer is mid-stream, the final name does not exist yet.
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        let writer = Task {
            try await store.putObject("t/b/slow/v", body: stream, contentLength: nil, contentType: "x/y", cacheControl: "no-cache")
        }
        continuation.yield(ByteBuffer(bytes: bytes(100_000)))
        // Wait (on a busy thread pool) until the writer has its temporary file.
        let deadline = ContinuousClock.now + .seconds(10)
        while try temporaryFiles().isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try temporaryFiles().count == 1)
        #expect(!FileManager.default.fileExists(atPath: root + "/stub/t/b/slow/v"))
        continuation.yield(ByteBuffer(bytes: bytes(50_000)))
        continuation.finish()
        #expect(try await writer.value.size == 150_000)
        #expect(try temporaryFiles().isEmpty)
    }

    @Test func rangesAndConditions() async throws {
        let data = bytes(1000)
        let info = try await store.putObject(
            "t/b/r/v", body: ScriptedBody(chunks: [ByteBuffer(bytes: data)]), contentLength: 1000,
            contentType: "x/y", cacheControl: "no-cache")
        let partial = try await store.getObject("t/b/r/v", conditions: ReadConditions(range: .from(first: 10, last: 19)))
        #expect(partial.outcome == .partial(10...19) && partial.contentLength == 10)
        #expect(try await collect(partial) == Array(data[10...19]))
        let suffix = try await store.getObject("t/b/r/v", conditions: ReadConditions(range: .suffix(count: 5)))
        #expect(try await collect(suffix) == Array(data[995...]))
        let outside = try await store.getObject("t/b/r/v", conditions: ReadConditions(range: .from(first: 1000, last: nil)))
        #expect(outside.outcome == .rangeNotSatisfiable)
        let cached = try await store.getObject("t/b/r/v", conditions: ReadConditions(ifNoneMatch: info.eTag))
        #expect(cached.outcome == .notModified)
        let weak = try await store.getObject("t/b/r/v", conditions: ReadConditions(ifNoneMatch: "W/\(info.eTag), \"other\""))
        #expect(weak.outcome == .notModified)
        let changed = try await store.getObject("t/b/r/v", conditions: ReadConditions(ifNoneMatch: "\"other\""))
        #expect(changed.outcome == .whole)
        let later = try await store.getObject(
            "t/b/r/v", conditions: ReadConditions(ifModifiedSince: info.lastModified.addingTimeInterval(60)))
        #expect(later.outcome == .notModified)
    }

    @Test func copyKeepsBytesAndMayReplaceMetadata() async throws {
        let data = bytes(200_000)
        let original = try await store.putObject(
            "t/b/src/v1", body: ScriptedBody(chunks: chunks(data, size: 4096)), contentLength: nil,
            contentType: "image/png", cacheControl: "max-age=1")
        let copy = try await store.copyObject(from: "t/b/src/v1", to: "t/b2/dst/v2", contentType: nil, cacheControl: nil)
        #expect(copy.eTag == original.eTag && copy.contentType == "image/png" && copy.size == 200_000)
        #expect(try await collect(store.getObject("t/b2/dst/v2", conditions: ReadConditions())) == data)
        let renamed = try await store.copyObject(from: "t/b/src/v1", to: "t/b2/other/v3", contentType: "text/plain", cacheControl: "no-store")
        #expect(renamed.contentType == "text/plain" && renamed.cacheControl == "no-store")
        await #expect(throws: ObjectStoreError.self) {
            _ = try await store.copyObject(from: "t/b/missing/v", to: "t/b/x/v", contentType: nil, cacheControl: nil)
        }
        #expect(try temporaryFiles().isEmpty)
    }

    @Test func deleteRemovesBytesAndEmptyFolders() async throws {
        for key in ["t/b/a/deep/file/v1", "t/b/a/keep/v1"] {
            _ = try await store.putObject(key, body: ScriptedBody(chunks: [ByteBuffer(string: "x")]), contentLength: 1, contentType: "x/y", cacheControl: "no-cache")
        }
        try await store.deleteObjects(["t/b/a/deep/file/v1", "t/b/never/existed/v"])
        #expect(!FileManager.default.fileExists(atPath: root + "/stub/t/b/a/deep"))
        #expect(FileManager.default.fileExists(atPath: root + "/stub/t/b/a/keep/v1"))
        try await store.deleteObjects(["t/b/a/keep/v1"])
        #expect(!FileManager.default.fileExists(atPath: root + "/stub/t"))
        #expect(FileManager.default.fileExists(atPath: root + "/stub"))
    }

    @Test func traversalKeysStayInside() async throws {
        _ = try await store.putObject(
            "t/b/../../../escape/v", body: ScriptedBody(chunks: [ByteBuffer(string: "x")]), contentLength: 1,
            contentType: "x/y", cacheControl: "no-cache")
        #expect(!FileManager.default.fileExists(atPath: root + "/escape"))
        #expect(FileManager.default.fileExists(atPath: root + "/stub/t/b/%2E%2E/%2E%2E/%2E%2E/escape/v"))
    }

    @Test func sweepsOnlyAbandonedPartialUploads() async throws {
        let stale = root + "/.tmp/stale"
        let fresh = root + "/.tmp/fresh"
        FileManager.default.createFile(atPath: stale, contents: Data("x".utf8))
        FileManager.default.createFile(atPath: fresh, contents: Data("x".utf8))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: stale)
        #expect(try await store.sweepAbandonedTemporaryFiles(olderThan: .seconds(3600)) == 1)
        #expect(try temporaryFiles() == ["fresh"])
    }

    @Test func health() async throws {
        try await store.checkHealth()
    }
}
