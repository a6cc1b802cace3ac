import WireFormats
import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import Testing

@testable import S3

private let logger = Logger(label: "tests")

/// Against the SeaweedFS the test command starts (TEST_S3_ENDPOINT), with enforced credentials.
enum TestS3 {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }
    static var isAvailable: Bool { environment["TEST_S3_ENDPOINT"] != nil }

    static func client(bucket: String, secret: String? = nil, attempts: Int = 3) -> S3Client {
        var configuration = S3Configuration(
            endpoint: URL(string: environment["TEST_S3_ENDPOINT"] ?? "http://127.0.0.1:1")!, region: "us-east-1",
            bucket: bucket, accessKey: environment["TEST_S3_ACCESS_KEY"] ?? "", secretKey: secret ?? environment["TEST_S3_SECRET_KEY"] ?? "",
            forcePathStyle: true)
        configuration.maximumAttempts = attempts
        return S3Client(configuration: configuration)
    }

    /// A fresh bucket; the client is shut down afterwards.
    static func withBucket(_ body: (S3Client) async throws -> Void) async throws {
        let client = client(bucket: "s3-tests-\(UUID().uuidString.prefix(8).lowercased())")
        do {
            try await client.createBucket(logger: logger)
            try await body(client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    static func bytes(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ Int(seed)) }
    }

    static func collect(_ body: HTTPClientResponse.Body) async throws -> [UInt8] {
        Array(try await body.collect(upTo: 64 << 20).readableBytesView)
    }
}

@Suite(.enabled(if: TestS3.isAvailable), .serialized)
struct S3ClientIntegrationTests {
    @Test func theSignatureIsWhatGetsRequestsIn() async throws {
        try await TestS3.withBucket { client in
            try await client.headBucket(logger: logger)
            let forger = TestS3.client(bucket: client.configuration.bucket, secret: "not-the-secret", attempts: 1)
            await #expect { try await forger.headBucket(logger: logger) } throws: { ($0 as? S3Error)?.status == 403 }
            await #expect {
                _ = try await forger.putObject("x", body: .bytes(ByteBuffer(string: "x")), contentType: "text/plain", cacheControl: "no-cache", logger: logger)
            } throws: { ($0 as? S3Error)?.code == .signatureDoesNotMatch }
            try await forger.shutdown()
        }
    }

    @Test func putGetHeadRangeAndDelete() async throws {
        try await TestS3.withBucket { client in
            let data = TestS3.bytes(1_000_000)
            let key = "dir/a b+c(1)&=?!'*,;:@$ caf\u{e9}.bin"
            let eTag = try await client.putObject(
                key, body: .stream({ .bytes(ByteBuffer(bytes: data)) }, length: Int64(data.count)),
                contentType: "application/x-test", cacheControl: "max-age=9", logger: logger)
            #expect(eTag == "\"\(Insecure.MD5.hash(data: data).lowercaseHex)\"")
            let head = try await client.headObject(key, logger: logger)
            #expect(head.size == 1_000_000 && head.contentType == "application/x-test" && head.cacheControl == "max-age=9")
            let whole = try await client.getObject(key, logger: logger)
            #expect(whole.part == .whole)
            #expect(try await TestS3.collect(whole.body) == data)
            let partial = try await client.getObject(key, range: "bytes=10-19", logger: logger)
            #expect(partial.part == .range(10...19) && partial.head.size == 1_000_000)
            #expect(try await TestS3.collect(partial.body) == Array(data[10...19]))
            await #expect { _ = try await client.getObject(key, range: "bytes=2000000-", logger: logger) } throws: { ($0 as? S3Error)?.status == 416 }
            try await client.deleteObject(key, logger: logger)
            await #expect { _ = try await client.headObject(key, logger: logger) } throws: { ($0 as? S3Error)?.status == 404 }
            await #expect { _ = try await client.getObject(key, logger: logger) } throws: { ($0 as? S3Error)?.code == .noSuchKey }
            try await client.deleteObject(key, logger: logger)  // deleting twice is fine
        }
    }

    @Test func multipartUploadCompletesAndAborts() async throws {
        try await TestS3.withBucket { client in
            let first = TestS3.bytes(5 << 20, seed: 2), second = TestS3.bytes(1234, seed: 3)
            let uploadID = try await client.createMultipartUpload("big", contentType: "video/x", cacheControl: "no-cache", logger: logger)
            let one = try await client.uploadPart("big", uploadID: uploadID, partNumber: 1, body: .bytes(ByteBuffer(bytes: first)), logger: logger)
            let two = try await client.uploadPart(
                "big", uploadID: uploadID, partNumber: 2, body: .stream({ .bytes(ByteBuffer(bytes: second)) }, length: 1234), logger: logger)
            let eTag = try await client.completeMultipartUpload("big", uploadID: uploadID, parts: [(1, one), (2, two)], logger: logger)
            #expect(eTag.hasSuffix("-2\""))
            #expect(try await TestS3.collect(client.getObject("big", logger: logger).body) == first + second)
            #expect(try await client.headObject("big", logger: logger).contentType == "video/x")

            let aborted = try await client.createMultipartUpload("gone", contentType: "x/y", cacheControl: "no-cache", logger: logger)
            _ = try await client.uploadPart("gone", uploadID: aborted, partNumber: 1, body: .bytes(ByteBuffer(bytes: first)), logger: logger)
            #expect(try await client.listMultipartUploads(logger: logger).contains { $0.uploadID == aborted })
            try await client.abortMultipartUpload("gone", uploadID: aborted, logger: logger)
            try await client.abortMultipartUpload("gone", uploadID: aborted, logger: logger)
            #expect(try await !client.listMultipartUploads(logger: logger).contains { $0.uploadID == aborted })
            await #expect { _ = try await client.headObject("gone", logger: logger) } throws: { ($0 as? S3Error)?.status == 404 }
            await #expect {
                _ = try await client.uploadPart("gone", uploadID: aborted, partNumber: 2, body: .bytes(ByteBuffer(bytes: second)), logger: logger)
            } throws: { ($0 as? S3Error)?.code == .noSuchUpload }
        }
    }

    @Test func copiesWithAndWithoutNewMetadata() async throws {
        try await TestS3.withBucket { client in
            let data = TestS3.bytes(6 << 20, seed: 4)
            _ = try await client.putObject("src", body: .bytes(ByteBuffer(bytes: data)), contentType: "image/png", cacheControl: "max-age=1", logger: logger)
            _ = try await client.copyObject(from: "src", to: "same-meta", logger: logger)
            #expect(try await client.headObject("same-meta", logger: logger).contentType == "image/png")
            _ = try await client.copyObject(from: "src", to: "new meta", contentType: "text/plain", cacheControl: "no-store", logger: logger)
            let replaced = try await client.headObject("new meta", logger: logger)
            #expect(replaced.contentType == "text/plain" && replaced.cacheControl == "no-store")
            #expect(try await TestS3.collect(client.getObject("new meta", logger: logger).body) == data)

            // UploadPartCopy, as copies over 5 GiB do.
            let uploadID = try await client.createMultipartUpload("parts", contentType: "image/png", cacheControl: "no-cache", logger: logger)
            let one = try await client.uploadPartCopy("parts", uploadID: uploadID, partNumber: 1, source: "src", range: 0...(5 << 20) - 1, logger: logger)
            let two = try await client.uploadPartCopy("parts", uploadID: uploadID, partNumber: 2, source: "src", range: (5 << 20)...Int64(data.count - 1), logger: logger)
            _ = try await client.completeMultipartUpload("parts", uploadID: uploadID, parts: [(1, one), (2, two)], logger: logger)
            #expect(try await TestS3.collect(client.getObject("parts", logger: logger).body) == data)
            await #expect { _ = try await client.copyObject(from: "missing", to: "x", logger: logger) } throws: { ($0 as? S3Error)?.status == 404 }
        }
    }

    @Test func listsAndDeletesInBatches() async throws {
        try await TestS3.withBucket { client in
            let keys = (0..<1005).map { "many/\(String(format: "%04d", $0)) <&>\"'" }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for chunk in stride(from: 0, to: keys.count, by: 100) {
                    group.addTask {
                        for key in keys[chunk..<min(chunk + 100, keys.count)] {
                            _ = try await client.putObject(key, body: .bytes(ByteBuffer(string: "x")), contentType: "text/plain", cacheControl: "no-cache", logger: logger)
                        }
                    }
                }
                try await group.waitForAll()
            }
            _ = try await client.putObject("other/x", body: .bytes(ByteBuffer(string: "y")), contentType: "text/plain", cacheControl: "no-cache", logger: logger)
            let page = try await client.listObjectsV2(prefix: "many/", maxKeys: 2, logger: logger)
            #expect(page.entries.map(\.key) == [keys[0], keys[1]] && page.nextContinuationToken != nil)
            let next = try await client.listObjectsV2(prefix: "many/", continuationToken: page.nextContinuationToken, maxKeys: 2, logger: logger)
            #expect(next.entries.first?.key == keys[2])
            let folders = try await client.listObjectsV2(delimiter: "/", logger: logger)
            #expect(Set(folders.commonPrefixes) == ["many/", "other/"])
            try await client.deleteObjects(keys + ["never-existed"], logger: logger)
            #expect(try await client.listObjectsV2(prefix: "many/", logger: logger).entries.isEmpty)
            #expect(try await client.listObjectsV2(prefix: "other/", logger: logger).entries.count == 1)
        }
    }

    @Test func unreachableServersFailAsUnreachable() async throws {
        var configuration = S3Configuration(
            endpoint: URL(string: "http://127.0.0.1:1")!, region: "us-east-1", bucket: "b", accessKey: "a", secretKey: "s",
            forcePathStyle: true)
        configuration.maximumAttempts = 2
        let client = S3Client(configuration: configuration)
        await #expect { try await client.headBucket(logger: logger) } throws: { ($0 as? S3Error)?.code == .unreachable }
        try await client.shutdown()
    }
}

@Suite struct S3ResponseParsingTests {
    @Test func errorDocuments() {
        let body = Data(#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><RequestId>R1</RequestId></Error>"#.utf8)
        let parsed = S3Error.parse(status: 404, body: body, requestID: nil)
        #expect(parsed == S3Error(code: .noSuchKey, message: "The specified key does not exist.", status: 404, requestID: "R1"))
        // `==` leaves the request id out; the document's id is still the one kept.
        #expect(parsed.requestID == "R1")
        #expect(S3Error.parse(status: 404, body: Data(), requestID: "H").code == .noSuchKey)
        #expect(S3Error.parse(status: 403, body: Data("<html>".utf8), requestID: nil).code == .accessDenied)
        #expect(S3Error.parse(status: 503, body: Data(), requestID: nil).isTransient)
    }

    @Test func documentsWithNamespacesAndEntities() throws {
        let xml = #"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>true</IsTruncated><Contents><Key>a &amp; b</Key><ETag>&#34;abc&#34;</ETag><Size>3</Size></Contents><NextContinuationToken>t</NextContinuationToken></ListBucketResult>"#
        let tree = try #require(XMLTree.parse(Data(xml.utf8)))
        #expect(tree.name == "ListBucketResult")
        #expect(tree["Contents"]?.value("Key") == "a & b" && tree["Contents"]?.value("ETag") == "\"abc\"")
        #expect(XMLTree.parse(Data("not xml".utf8)) == nil)
        #expect(XMLWriter.escape(#"<a&"b'>"#) == "&lt;a&amp;&quot;b&apos;&gt;")
    }

    @Test func contentRange() {
        let range = ContentRange("bytes 10-19/1000")
        #expect(range?.first == 10 && range?.last == 19 && range?.size == 1000)
        #expect(ContentRange("bytes */1000") == nil && ContentRange("items 1-2/3") == nil)
    }
}
