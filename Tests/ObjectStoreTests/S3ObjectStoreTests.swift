import Foundation
import Logging
import NIOCore
import S3
import Testing

@testable import FileBackend
@testable import ObjectStore
@testable import S3Backend

private let logger = Logger(label: "tests")

/// S3-only paths: copies beyond CopyObject's limit, and the part reader.
@Suite(.enabled(if: Backend.available.contains(.s3)), .serialized)
struct S3ObjectStoreTests {
    @Test func largeCopiesGoPartByPart() async throws {
        try await Backend.s3.withStore { store async throws in
            let s3 = store as! S3ObjectStore
            // A store whose CopyObject limit is 5 MiB, so a 12 MiB source copies in three parts.
            let small = S3ObjectStore(client: s3.client, partSize: 5 << 20, copyObjectLimit: 5 << 20)
            let data = pattern(12 << 20, seed: 9)
            _ = try await small.putObject("t/b/big/v1", body: ScriptedBody(chunks: chunks(data, size: 1 << 20)), contentLength: Int64(data.count), contentType: "video/x", cacheControl: "no-cache", logger: logger)
            let copy = try await small.copyObject(from: "t/b/big/v1", to: "t/b/big/v2", contentType: nil, cacheControl: nil, logger: logger)
            #expect(copy.size == Int64(data.count) && copy.eTag.hasSuffix("-3\"") && copy.contentType == "video/x")
            #expect(try await collect(small.getObject("t/b/big/v2", conditions: ReadConditions(), logger: logger)) == data)
        }
    }

    /// Resumable chunks become parts as soon as there is S3's minimum (5 MiB), and never more than
    /// the part size; only what is too small for a part waits in a piece.
    @Test func resumablePartsFollowTheChunks() async throws {
        try await Backend.s3.withStore { store async throws in
            let s3 = store as! S3ObjectStore
            let mib = 1 << 20
            let store = S3ObjectStore(client: s3.client, partSize: 8 * mib)
            let ledger = MemoryLedger(store: store)
            let sizes = [3 * mib, 3 * mib, 9 * mib, 5 * mib, 2 * mib]
            let data = pattern(sizes.reduce(0, +), seed: 3)
            var offset = 0
            for (index, size) in sizes.enumerated() {
                _ = try await store.receiveChunk(
                    ScriptedBody(chunks: chunks(Array(data[offset..<(offset + size)]))), length: index == 3 ? nil : Int64(size),
                    after: ledger.current, target: ResumableStorageTests.target, ledger: ledger, logger: logger)
                offset += size
            }
            #expect(ledger.current.parts.map(\.size) == [6, 8, 6].map { Int64($0 * mib) })
            #expect(ledger.current.pieces.map(\.size) == [Int64(2 * mib)])
            let info = try await store.assemble(ledger.current, target: ResumableStorageTests.target, ledger: ledger, logger: logger)
            #expect(info.eTag.hasSuffix("-4\""))
            #expect(try await collect(store.getObject(ResumableStorageTests.target.objectKey, conditions: ReadConditions(), logger: logger)) == data)
        }
    }

    @Test func partsCutAtExactBoundaries() async throws {
        let reader = PartReader(ScriptedBody(chunks: chunks(pattern(25), size: 7)))
        let first = try await reader.collect(upTo: 10)
        #expect(Array(first.readableBytesView) == Array(pattern(25)[0..<10]) && !reader.isFinished)
        let second = try await reader.collect(upTo: 10)
        #expect(Array(second.readableBytesView) == Array(pattern(25)[10..<20]))
        let third = try await reader.collect(upTo: 10)
        #expect(Array(third.readableBytesView) == Array(pattern(25)[20..<25]) && reader.isFinished)
        #expect(try await reader.collect(upTo: 10).readableBytes == 0)
    }

    @Test func exactlyOnePartIsKnownToBeTheLast() async throws {
        let reader = PartReader(ScriptedBody(chunks: chunks(pattern(10), size: 5)))
        _ = try await reader.collect(upTo: 10)
        #expect(reader.isFinished)
    }
}
