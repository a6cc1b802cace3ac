import Crypto
import Foundation
import Logging
import NIOCore
import S3
import StorageCore
import Testing

@testable import FileBackend
@testable import ObjectStore
@testable import S3Backend

private let logger = Logger(label: "tests")

/// The behaviour every backend promises, checked on the file store and on the S3 store
/// (SeaweedFS from the test command; 5 MiB parts so multipart paths run).
enum Backend: String, CaseIterable, CustomTestStringConvertible {
    case file, s3
    var testDescription: String { rawValue }

    static var available: [Backend] {
        ProcessInfo.processInfo.environment["TEST_S3_ENDPOINT"] == nil ? [.file] : [.file, .s3]
    }

    static let partSize = 5 << 20

    /// A fresh, empty store of this kind; `body` runs with it, then it is cleaned up.
    func withStore(_ body: (any ObjectStore) async throws -> Void) async throws {
        switch self {
        case .file:
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("contract-\(UUID().uuidString)").path
            try await body(try FileObjectStore(root: root, bucket: "stub"))
            try? FileManager.default.removeItem(atPath: root)
        case .s3:
            let environment = ProcessInfo.processInfo.environment
            let configuration = S3Configuration(
                endpoint: URL(string: environment["TEST_S3_ENDPOINT"]!)!, region: "us-east-1",
                bucket: "contract-\(UUID().uuidString.prefix(8).lowercased())", accessKey: environment["TEST_S3_ACCESS_KEY"]!,
                secretKey: environment["TEST_S3_SECRET_KEY"]!, forcePathStyle: true)
            let client = S3Client(configuration: configuration)
            let store = S3ObjectStore(client: client, partSize: Self.partSize)
            do {
                try await store.prepareBucket(create: true, logger: logger)
                try await body(store)
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }
}

func pattern(_ count: Int, seed: Int = 7) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) }
}

func chunks(_ data: [UInt8], size: Int = 65_536) -> [ByteBuffer] {
    stride(from: 0, to: data.count, by: size).map { ByteBuffer(bytes: data[$0..<min($0 + size, data.count)]) }
}

func collect(_ content: ObjectContent) async throws -> [UInt8] {
    var result: [UInt8] = []
    for try await chunk in content.body { result += chunk.readableBytesView }
    return result
}

func md5ETag(_ data: [UInt8]) -> String {
    "\"" + Insecure.MD5.hash(data: data).map { String(format: "%02x", $0) }.joined() + "\""
}

@Suite(.serialized) struct ObjectStoreContractTests {
    /// Sizes around the part size, sent with and without a known length.
    @Test(arguments: Backend.available, [0, 1, 1000, Backend.partSize, Backend.partSize + 1, 2 * Backend.partSize + 12_345])
    func roundTrips(_ backend: Backend, size: Int) async throws {
        try await backend.withStore { store async throws in
            let data = pattern(size, seed: size)
            for (index, length) in [Int64(size), nil].enumerated() {
                let key = "t/b/round trip+\(size)/v\(index)"
                let info = try await store.putObject(
                    key, body: ScriptedBody(chunks: chunks(data)), contentLength: length, contentType: "image/png",
                    cacheControl: "max-age=5", logger: logger)
                #expect(info.size == Int64(size))
                if size <= Backend.partSize || backend == .file { #expect(info.eTag == md5ETag(data)) }
                let head = try await store.headObject(key, logger: logger)
                #expect(head.size == Int64(size) && head.eTag == info.eTag && head.contentType == "image/png" && head.cacheControl == "max-age=5")
                let content = try await store.getObject(key, conditions: ReadConditions(), logger: logger)
                #expect(content.outcome == .whole && content.contentLength == Int64(size))
                #expect(try await collect(content) == data)
            }
        }
    }

    /// A client that goes away mid-upload (before, at and after a part boundary) leaves nothing.
    @Test(arguments: Backend.available, [100_000, Backend.partSize + 100_000])
    func aFailingBodyLeavesNothing(_ backend: Backend, size: Int) async throws {
        try await backend.withStore { store async throws in
            for length in [Int64(size + 1), nil] {
                await #expect(throws: ScriptedBody.Disconnected.self) {
                    try await store.putObject(
                        "t/b/broken/v", body: ScriptedBody(chunks: chunks(pattern(size)), failAtEnd: true),
                        contentLength: length, contentType: "x/y", cacheControl: "no-cache", logger: logger)
                }
                await #expect { _ = try await store.headObject("t/b/broken/v", logger: logger) } throws: { ($0 as? ObjectStoreError)?.code == .notFound }
                if let s3 = store as? S3ObjectStore {
                    #expect(try await s3.client.listMultipartUploads(prefix: "t/b/broken", logger: logger).isEmpty)
                }
            }
        }
    }

    @Test(arguments: Backend.available)
    func rangesAndConditions(_ backend: Backend) async throws {
        try await backend.withStore { store async throws in
            let data = pattern(1000)
            let info = try await store.putObject(
                "t/b/r/v", body: ScriptedBody(chunks: [ByteBuffer(bytes: data)]), contentLength: 1000, contentType: "x/y",
                cacheControl: "no-cache", logger: logger)
            let partial = try await store.getObject("t/b/r/v", conditions: ReadConditions(range: .from(first: 10, last: 19)), logger: logger)
            #expect(partial.outcome == .partial(10...19) && partial.contentLength == 10 && partial.info.size == 1000)
            #expect(try await collect(partial) == Array(data[10...19]))
            let open = try await store.getObject("t/b/r/v", conditions: ReadConditions(range: .from(first: 990, last: nil)), logger: logger)
            #expect(try await collect(open) == Array(data[990...]))
            let suffix = try await store.getObject("t/b/r/v", conditions: ReadConditions(range: .suffix(count: 5)), logger: logger)
            #expect(try await collect(suffix) == Array(data[995...]))
            let outside = try await store.getObject("t/b/r/v", conditions: ReadConditions(range: .from(first: 1000, last: nil)), logger: logger)
            #expect(outside.outcome == .rangeNotSatisfiable && outside.info.size == 1000)
            #expect(try await store.getObject("t/b/r/v", conditions: ReadConditions(ifNoneMatch: info.eTag), logger: logger).outcome == .notModified)
            #expect(try await store.getObject("t/b/r/v", conditions: ReadConditions(ifNoneMatch: "W/\(info.eTag), \"x\""), logger: logger).outcome == .notModified)
            #expect(try await store.getObject("t/b/r/v", conditions: ReadConditions(ifNoneMatch: "\"other\""), logger: logger).outcome == .whole)
            let later = ReadConditions(ifModifiedSince: info.lastModified.addingTimeInterval(60))
            #expect(try await store.getObject("t/b/r/v", conditions: later, logger: logger).outcome == .notModified)
            await #expect { _ = try await store.getObject("t/b/missing/v", conditions: ReadConditions(), logger: logger) } throws: {
                ($0 as? ObjectStoreError)?.code == .notFound
            }
        }
    }

    @Test(arguments: Backend.available)
    func copiesKeepBytesAndMayReplaceMetadata(_ backend: Backend) async throws {
        try await backend.withStore { store async throws in
            let data = pattern(200_000)
            _ = try await store.putObject(
                "t/b/src/v1", body: ScriptedBody(chunks: chunks(data)), contentLength: nil, contentType: "image/png",
                cacheControl: "max-age=1", logger: logger)
            let copy = try await store.copyObject(from: "t/b/src/v1", to: "t/b2/dst/v2", contentType: nil, cacheControl: nil, logger: logger)
            #expect(copy.contentType == "image/png" && copy.cacheControl == "max-age=1" && copy.size == 200_000)
            #expect(try await collect(store.getObject("t/b2/dst/v2", conditions: ReadConditions(), logger: logger)) == data)
            let renamed = try await store.copyObject(from: "t/b/src/v1", to: "t/b2/other/v3", contentType: "text/plain", cacheControl: "no-store", logger: logger)
            #expect(renamed.contentType == "text/plain" && renamed.cacheControl == "no-store")
            await #expect { _ = try await store.copyObject(from: "t/b/missing/v", to: "t/b/x/v", contentType: nil, cacheControl: nil, logger: logger) } throws: {
                ($0 as? ObjectStoreError)?.code == .notFound
            }
        }
    }

    @Test(arguments: Backend.available)
    func deletesAndHealth(_ backend: Backend) async throws {
        try await backend.withStore { store async throws in
            for key in ["t/b/a/v1", "t/b/b/v1"] {
                _ = try await store.putObject(key, body: ScriptedBody(chunks: [ByteBuffer(string: "x")]), contentLength: 1, contentType: "x/y", cacheControl: "no-cache", logger: logger)
            }
            try await store.deleteObjects(["t/b/a/v1", "t/b/never/v"], logger: logger)
            await #expect { _ = try await store.headObject("t/b/a/v1", logger: logger) } throws: { ($0 as? ObjectStoreError)?.code == .notFound }
            #expect(try await store.headObject("t/b/b/v1", logger: logger).size == 1)
            try await store.checkHealth(logger: logger)
        }
    }

    /// Listing (for reconcile) finds every key under a prefix, in bounded batches, with a time;
    /// clean-ups remove what they name and are idempotent.
    @Test(arguments: Backend.available)
    func listsKeysAndPerformsCleanups(_ backend: Backend) async throws {
        try await backend.withStore { store async throws in
            let keys = (0..<7).map { "t/b/folder \($0)/name+\($0)/v\($0)" } + ["t/b/x/v", "__render/t/b/x/v/w100", "other/k"]
            for key in keys {
                _ = try await store.putObject(
                    key, body: ScriptedBody(chunks: [ByteBuffer(string: key)]), contentLength: nil,
                    contentType: "text/plain", cacheControl: "no-cache", logger: logger)
            }
            var listed: [StoredKey] = []
            var batches: [Int] = []
            try await store.listKeys(under: "t", batchSize: 3, logger: logger) { batch in
                batches.append(batch.count)
                listed += batch
            }
            #expect(Set(listed.map(\.key)) == Set(keys.filter { $0.hasPrefix("t/") }))
            #expect(batches.allSatisfy { $0 <= 3 })
            #expect(listed.allSatisfy { abs(($0.lastModified ?? .distantPast).timeIntervalSinceNow) < 600 })

            try await store.perform(.object("t/b/x/v"), logger: logger)
            try await store.perform(.object("t/b/x/v"), logger: logger)
            try await store.perform(.prefix("__render/t/b/x/v"), logger: logger)
            try await store.perform(.failedWrite("t/b/folder 0/name+0/v0"), logger: logger)
            try await store.perform(.multipart(key: "t/b/never", uploadID: "no-such-upload"), logger: logger)
            for gone in ["t/b/x/v", "__render/t/b/x/v/w100", "t/b/folder 0/name+0/v0"] {
                await #expect(throws: ObjectStoreError.self) { try await store.headObject(gone, logger: logger) }
            }
            #expect(try await store.headObject("t/b/folder 1/name+1/v1", logger: logger).size > 0)
            var left: [String] = []
            try await store.listKeys(under: "nothing-here", batchSize: 10, logger: logger) { left += $0.map(\.key) }
            #expect(left.isEmpty)
        }
    }
}
