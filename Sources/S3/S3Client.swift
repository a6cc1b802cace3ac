public import AsyncHTTPClient
import Crypto
public import Foundation
public import Logging
public import NIOCore
import NIOHTTP1
import Telemetry
import Tracing
import WireFormats

/// Where and how to reach an S3-compatible service.
public struct S3Configuration: Sendable {
    /// `scheme://host[:port]` of the service (no bucket, no path).
    public var endpoint: URL
    public var region: String
    public var bucket: String
    public var accessKey: String
    public var secretKey: String
    /// `https://host/bucket/key` rather than `https://bucket.host/key`.
    public var forcePathStyle: Bool
    public var connectTimeout: Duration = .seconds(10)
    /// Longest silence while sending or receiving before a request fails (stalled peer).
    public var idleTimeout: Duration = .seconds(60)
    /// Connections kept per host.
    public var maximumConnections: Int = 64
    /// Tries for idempotent requests (GET, HEAD, DELETE, and bodies held in memory).
    public var maximumAttempts: Int = 3

    public init(
        endpoint: URL, region: String, bucket: String, accessKey: String, secretKey: String, forcePathStyle: Bool
    ) {
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.forcePathStyle = forcePathStyle
    }
}

/// What HEAD (or a GET's headers) says about an object.
public struct S3ObjectHead: Sendable, Equatable {
    public var size: Int64
    public var eTag: String
    public var lastModified: Date
    public var contentType: String?
    public var cacheControl: String?
}

/// A GetObject answer: which bytes the body carries, the object's metadata, and the body.
public struct S3Download: Sendable {
    public enum Part: Sendable, Equatable {
        case whole
        case range(ClosedRange<Int64>)
        /// 304: the body is empty.
        case notModified
    }

    public var part: Part
    public var head: S3ObjectHead
    public var body: HTTPClientResponse.Body
}

/// `Content-Range: bytes first-last/size`.
struct ContentRange {
    var first: Int64
    var last: Int64
    var size: Int64

    init?(_ header: String) {
        guard header.hasPrefix("bytes ") else { return nil }
        let parts = header.dropFirst(6).split(separator: "/")
        guard parts.count == 2, let size = Int64(parts[1]) else { return nil }
        let bounds = parts[0].split(separator: "-")
        guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]) else { return nil }
        self.first = first
        self.last = last
        self.size = size
    }
}

/// One page of ListObjectsV2.
public struct S3ListPage: Sendable {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var size: Int64
        public var eTag: String
        /// `LastModified`, when the service sent one that parses.
        public var lastModified: Date?
    }

    public var entries: [Entry]
    public var commonPrefixes: [String]
    public var nextContinuationToken: String?
}

/// A streaming S3 client: signs with SigV4, keeps bodies as streams, retries only what can be
/// sent again, and turns S3's XML errors into `S3Error`.
public final class S3Client: Sendable {
    public let configuration: S3Configuration
    let signer: SigV4Signer
    let http: HTTPClient

    /// Every operation takes the logger of the request or job it serves: its lines (and
    /// async-http-client's) carry that id.
    public init(configuration: S3Configuration) {
        self.configuration = configuration
        self.signer = SigV4Signer(
            accessKey: configuration.accessKey, secretKey: configuration.secretKey, region: configuration.region)
        var http = HTTPClient.Configuration()
        http.timeout = .init(
            connect: .nanoseconds(Int64(configuration.connectTimeout.components.seconds) * 1_000_000_000),
            read: .nanoseconds(Int64(configuration.idleTimeout.components.seconds) * 1_000_000_000),
            write: .nanoseconds(Int64(configuration.idleTimeout.components.seconds) * 1_000_000_000))
        http.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maximumConnections)
        // Failing to connect fails the request at once (AHC would otherwise retry until the
        // request's deadline, which is open-ended for streams); `send` retries what can be retried.
        http.connectionPool.retryConnectionEstablishment = false
        http.decompression = .disabled
        http.redirectConfiguration = .disallow
        // Calls get this client's own spans, named by operation (`send`); async-http-client's
        // would be a second span per call with nothing more in it.
        http.tracing.tracer = nil
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    /// Closes every connection; call once, when the process stops.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: - Requests

    /// A request body: nothing, bytes that can be sent again, or a one-shot stream.
    public enum Body: Sendable {
        case empty
        case bytes(ByteBuffer)
        case stream(@Sendable () -> HTTPClientRequest.Body, length: Int64)

        var isReplayable: Bool {
            if case .stream = self { return false }
            return true
        }
    }

    struct Call {
        var method: HTTPMethod
        var key: String?
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var body: Body = .empty
        var payloadHash: String = SigV4Signer.unsignedPayload
        /// Statuses that are answers rather than errors.
        var accepted: Set<Int> = [200]

        /// The S3 operation this call is, by its method, key, query and copy source (for spans).
        var operation: String {
            let names = Set(query.map(\.0))
            let copies = headers.contains { $0.0.lowercased() == "x-amz-copy-source" }
            switch (method, key != nil) {
            case (.GET, true): return names.contains("uploadId") ? "ListParts" : "GetObject"
            case (.GET, false): return names.contains("uploads") ? "ListMultipartUploads" : "ListObjects"
            case (.HEAD, true): return "HeadObject"
            case (.HEAD, false): return "HeadBucket"
            case (.PUT, true):
                if names.contains("partNumber") { return copies ? "UploadPartCopy" : "UploadPart" }
                return copies ? "CopyObject" : "PutObject"
            case (.PUT, false): return "CreateBucket"
            case (.POST, true): return names.contains("uploads") ? "CreateMultipartUpload" : "CompleteMultipartUpload"
            case (.POST, false): return names.contains("delete") ? "DeleteObjects" : "POST"
            case (.DELETE, true): return names.contains("uploadId") ? "AbortMultipartUpload" : "DeleteObject"
            case (.DELETE, false): return "DeleteBucket"
            default: return method.rawValue
            }
        }
    }

    /// The host header, and the encoded path of `key` (or of the bucket when `key` is nil).
    func location(key: String?) -> (host: String, encodedPath: String, base: String) {
        let endpoint = configuration.endpoint
        let scheme = endpoint.scheme ?? "https"
        var host = endpoint.host ?? "localhost"
        if let port = endpoint.port, !(scheme == "https" && port == 443), !(scheme == "http" && port == 80) {
            host += ":\(port)"
        }
        let bucket = SigV4Signer.encode(configuration.bucket)
        let keyPath = key.map { "/" + SigV4Signer.encodePath($0) } ?? ""
        if configuration.forcePathStyle {
            return (host, "/\(bucket)\(keyPath)", "\(scheme)://\(host)")
        }
        let virtualHost = "\(configuration.bucket).\(host)"
        return (virtualHost, keyPath.isEmpty ? "/" : keyPath, "\(scheme)://\(virtualHost)")
    }

    func send(_ call: Call, logger: Logger) async throws(S3Error) -> HTTPClientResponse {
        let (host, encodedPath, base) = location(key: call.key)
        let query = SigV4Signer.canonicalQuery(call.query)
        let url = base + encodedPath + (call.query.isEmpty ? "" : "?" + query)
        let attempts = call.body.isReplayable ? max(1, configuration.maximumAttempts) : 1
        var lastError = S3Error(code: .unreachable, message: "no attempt made", status: 0)
        let span = Telemetry.startChildSpan("s3.\(call.operation)", kind: .client, logger: logger)
        var status = 0
        var made = 0
        defer {
            if let span {
                span.attributes["s3.bucket"] = configuration.bucket
                span.attributes["s3.key"] = call.key
                span.attributes["http.request.method"] = call.method.rawValue
                span.attributes["http.response.status_code"] = status
                span.attributes["s3.attempts"] = made
                if !call.accepted.contains(status) { span.setStatus(SpanStatus(code: .error)) }
                span.end()
            }
        }
        for attempt in 1...attempts {
            made = attempt
            var headers = call.headers
            headers.append(("host", host))
            let signed = signer.signedHeaders(
                method: call.method.rawValue, encodedPath: encodedPath, query: call.query, headers: headers,
                payloadHash: call.payloadHash)
            var request = HTTPClientRequest(url: url)
            request.method = call.method
            for (name, value) in signed { request.headers.replaceOrAdd(name: name, value: value) }
            switch call.body {
            case .empty: if call.method == .PUT || call.method == .POST { request.body = .bytes(ByteBuffer()) }
            case .bytes(let buffer): request.body = .bytes(buffer)
            case .stream(let makeBody, _): request.body = makeBody()
            }
            let started = ContinuousClock.now
            do {
                let response = try await http.execute(request, deadline: .distantFuture, logger: logger)
                status = Int(response.status.code)
                logger.debug("s3 request", metadata: [
                    "method": "\(call.method.rawValue)", "key": "\(call.key ?? "")", "status": "\(response.status.code)",
                    "attempt": "\(attempt)", "ms": "\((ContinuousClock.now - started).milliseconds)",
                ])
                if call.accepted.contains(Int(response.status.code)) { return response }
                let body = (try? await response.body.collect(upTo: 1 << 20)).map { Data($0.readableBytesView) } ?? Data()
                lastError = S3Error.parse(
                    status: Int(response.status.code), body: body, requestID: response.headers.first(name: "x-amz-request-id"))
            } catch {
                logger.debug("s3 request", metadata: [
                    "method": "\(call.method.rawValue)", "key": "\(call.key ?? "")", "error": "\(error)",
                    "attempt": "\(attempt)", "ms": "\((ContinuousClock.now - started).milliseconds)",
                ])
                lastError = S3Error(code: .unreachable, message: "no answer", status: 0, underlying: error)
            }
            guard lastError.isTransient, attempt < attempts else { break }
            // Exponential back-off with jitter: about 100 ms, 400 ms, 1.6 s.
            let delay = 100 * (1 << (2 * (attempt - 1)))
            try? await Task.sleep(for: .milliseconds(delay + Int.random(in: 0...delay / 2)))
        }
        throw lastError
    }

    /// The body of a response as XML, for operations that answer with a document.
    func document(_ response: HTTPClientResponse) async throws(S3Error) -> XMLTree {
        let data: Data
        do {
            data = Data(try await response.body.collect(upTo: 16 << 20).readableBytesView)
        } catch {
            throw S3Error(
                code: .unreachable, message: "reading the response failed", status: Int(response.status.code), underlying: error)
        }
        guard let document = XMLTree.parse(data) else {
            throw S3Error(code: .malformedResponse, message: "the response is not XML", status: Int(response.status.code))
        }
        // Some operations answer 200 and report the failure in the body.
        if document.name == "Error" {
            throw S3Error.parse(status: Int(response.status.code), body: data, requestID: response.headers.first(name: "x-amz-request-id"))
        }
        return document
    }

    // MARK: - Objects

    /// PutObject with a body of known length; returns the ETag.
    public func putObject(
        _ key: String, body: Body, contentType: String, cacheControl: String, logger: Logger
    ) async throws(S3Error) -> String {
        var headers = [("Content-Type", contentType), ("Cache-Control", cacheControl)]
        if case .stream(_, let length) = body { headers.append(("Content-Length", String(length))) }
        let response = try await send(Call(method: .PUT, key: key, headers: headers, body: body), logger: logger)
        return response.headers.first(name: "etag") ?? ""
    }

    /// GetObject, optionally of a byte range (`bytes=…`) and conditional. The caller consumes
    /// the body or drops it (which cancels the transfer). An unsatisfiable range throws
    /// `InvalidRange` (status 416).
    public func getObject(
        _ key: String, range: String? = nil, ifNoneMatch: String? = nil, ifModifiedSince: Date? = nil, logger: Logger
    ) async throws(S3Error) -> S3Download {
        var headers: [(String, String)] = []
        if let range { headers.append(("Range", range)) }
        if let ifNoneMatch { headers.append(("If-None-Match", ifNoneMatch)) }
        if let ifModifiedSince { headers.append(("If-Modified-Since", HTTPDate.format(ifModifiedSince))) }
        let response = try await send(Call(method: .GET, key: key, headers: headers, accepted: [200, 206, 304]), logger: logger)
        let length = response.headers.first(name: "content-length").flatMap { Int64($0) }
        switch response.status.code {
        case 304:
            return S3Download(part: .notModified, head: Self.head(from: response.headers, size: 0)!, body: response.body)
        case 206:
            guard let range = response.headers.first(name: "content-range").flatMap(ContentRange.init),
                let head = Self.head(from: response.headers, size: range.size)
            else {
                throw S3Error(code: .malformedResponse, message: "GET \(key): 206 without a usable Content-Range", status: 206)
            }
            return S3Download(part: .range(range.first...range.last), head: head, body: response.body)
        default:
            guard let head = Self.head(from: response.headers, size: length) else {
                throw S3Error(code: .malformedResponse, message: "GET \(key): no Content-Length", status: 200)
            }
            return S3Download(part: .whole, head: head, body: response.body)
        }
    }

    public func headObject(_ key: String, logger: Logger) async throws(S3Error) -> S3ObjectHead {
        let response = try await send(Call(method: .HEAD, key: key), logger: logger)
        guard let head = Self.head(from: response.headers, size: response.headers.first(name: "content-length").flatMap { Int64($0) }) else {
            throw S3Error(code: .malformedResponse, message: "HEAD \(key) lacked size or date", status: Int(response.status.code))
        }
        return head
    }

    /// Object metadata from response headers (`size` passed in: it comes from Content-Length or Content-Range).
    static func head(from headers: HTTPHeaders, size: Int64?) -> S3ObjectHead? {
        guard let size else { return nil }
        let modified = headers.first(name: "last-modified").flatMap(HTTPDate.parse) ?? Date()
        return S3ObjectHead(
            size: size, eTag: headers.first(name: "etag") ?? "", lastModified: modified,
            contentType: headers.first(name: "content-type"), cacheControl: headers.first(name: "cache-control"))
    }

    public func deleteObject(_ key: String, logger: Logger) async throws(S3Error) {
        _ = try await send(Call(method: .DELETE, key: key, accepted: [200, 204, 404]), logger: logger)
    }

    /// DeleteObjects in batches of 1000; keys that do not exist are not errors.
    public func deleteObjects(_ keys: [String], logger: Logger) async throws(S3Error) {
        var start = keys.startIndex
        while start < keys.endIndex {
            let batch = keys[start..<min(start + 1000, keys.endIndex)]
            start += batch.count
            var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>"
            for key in batch { xml += "<Object><Key>\(XMLWriter.escape(key))</Key></Object>" }
            xml += "</Delete>"
            let body = Array(xml.utf8)
            let md5 = Data(Insecure.MD5.hash(data: body)).base64EncodedString()
            let response = try await send(Call(
                method: .POST, key: nil, query: [("delete", "")],
                headers: [("Content-MD5", md5), ("Content-Type", "application/xml")],
                body: .bytes(ByteBuffer(bytes: body)), payloadHash: SHA256.hash(data: body).lowercaseHex), logger: logger)
            let result = try await document(response)
            if let failure = result.all("Error").first(where: { $0.value("Code") != "NoSuchKey" }) {
                throw S3Error(
                    code: .init(failure.value("Code") ?? "DeleteFailed"),
                    message: "\(failure.value("Key") ?? ""): \(failure.value("Message") ?? "")", status: 200)
            }
        }
    }

    /// CopyObject inside the bucket (sources up to 5 GiB). With `contentType`/`cacheControl` the
    /// metadata is replaced, otherwise copied. Returns the new ETag.
    public func copyObject(
        from source: String, to destination: String, contentType: String? = nil, cacheControl: String? = nil, logger: Logger
    ) async throws(S3Error) -> String {
        var headers = [("x-amz-copy-source", copySource(source))]
        if contentType != nil || cacheControl != nil {
            headers.append(("x-amz-metadata-directive", "REPLACE"))
            if let contentType { headers.append(("Content-Type", contentType)) }
            if let cacheControl { headers.append(("Cache-Control", cacheControl)) }
        }
        let result = try await document(send(Call(method: .PUT, key: destination, headers: headers), logger: logger))
        return result.value("ETag") ?? ""
    }

    func copySource(_ key: String) -> String {
        "/\(SigV4Signer.encode(configuration.bucket))/\(SigV4Signer.encodePath(key))"
    }

    // MARK: - Multipart

    public func createMultipartUpload(
        _ key: String, contentType: String, cacheControl: String, logger: Logger
    ) async throws(S3Error) -> String {
        let result = try await document(send(Call(
            method: .POST, key: key, query: [("uploads", "")],
            headers: [("Content-Type", contentType), ("Cache-Control", cacheControl)]), logger: logger))
        guard let uploadID = result.value("UploadId"), !uploadID.isEmpty else {
            throw S3Error(code: .malformedResponse, message: "CreateMultipartUpload returned no UploadId", status: 200)
        }
        return uploadID
    }

    /// UploadPart; returns the part's ETag.
    public func uploadPart(
        _ key: String, uploadID: String, partNumber: Int, body: Body, logger: Logger
    ) async throws(S3Error) -> String {
        var headers: [(String, String)] = []
        switch body {
        case .stream(_, let length): headers.append(("Content-Length", String(length)))
        case .bytes(let buffer): headers.append(("Content-Length", String(buffer.readableBytes)))
        case .empty: headers.append(("Content-Length", "0"))
        }
        let response = try await send(Call(
            method: .PUT, key: key, query: [("partNumber", String(partNumber)), ("uploadId", uploadID)],
            headers: headers, body: body), logger: logger)
        guard let eTag = response.headers.first(name: "etag") else {
            throw S3Error(code: .malformedResponse, message: "UploadPart returned no ETag", status: Int(response.status.code))
        }
        return eTag
    }

    /// UploadPartCopy of `range` (inclusive) of `source`; returns the part's ETag.
    public func uploadPartCopy(
        _ key: String, uploadID: String, partNumber: Int, source: String, range: ClosedRange<Int64>, logger: Logger
    ) async throws(S3Error) -> String {
        let result = try await document(send(Call(
            method: .PUT, key: key, query: [("partNumber", String(partNumber)), ("uploadId", uploadID)],
            headers: [
                ("x-amz-copy-source", copySource(source)),
                ("x-amz-copy-source-range", "bytes=\(range.lowerBound)-\(range.upperBound)"),
            ]), logger: logger))
        return result.value("ETag") ?? ""
    }

    /// CompleteMultipartUpload; returns the object's ETag.
    public func completeMultipartUpload(
        _ key: String, uploadID: String, parts: [(number: Int, eTag: String)], logger: Logger
    ) async throws(S3Error) -> String {
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUpload>"
        for part in parts {
            xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(XMLWriter.escape(part.eTag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = Array(xml.utf8)
        let result = try await document(send(Call(
            method: .POST, key: key, query: [("uploadId", uploadID)], headers: [("Content-Type", "application/xml")],
            body: .bytes(ByteBuffer(bytes: body)), payloadHash: SHA256.hash(data: body).lowercaseHex), logger: logger))
        return result.value("ETag") ?? ""
    }

    /// AbortMultipartUpload; an upload that is already gone is not an error.
    public func abortMultipartUpload(_ key: String, uploadID: String, logger: Logger) async throws(S3Error) {
        _ = try await send(Call(method: .DELETE, key: key, query: [("uploadId", uploadID)], accepted: [200, 204, 404]), logger: logger)
    }

    /// Multipart uploads in progress under `prefix` (key and upload id), first page.
    public func listMultipartUploads(prefix: String = "", logger: Logger) async throws(S3Error) -> [(key: String, uploadID: String)] {
        let result = try await document(send(Call(method: .GET, key: nil, query: [("uploads", ""), ("prefix", prefix)]), logger: logger))
        return result.all("Upload").map { ($0.value("Key") ?? "", $0.value("UploadId") ?? "") }
    }

    // MARK: - Listing and buckets

    public func listObjectsV2(
        prefix: String = "", delimiter: String? = nil, continuationToken: String? = nil, maxKeys: Int = 1000, logger: Logger
    ) async throws(S3Error) -> S3ListPage {
        var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(maxKeys))]
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        let result = try await document(send(Call(method: .GET, key: nil, query: query), logger: logger))
        let entries = result.all("Contents").map { content in
            S3ListPage.Entry(
                key: content.value("Key") ?? "", size: Int64(content.value("Size") ?? "") ?? 0,
                eTag: content.value("ETag") ?? "", lastModified: content.value("LastModified").flatMap(Self.parseTimestamp))
        }
        let truncated = result.value("IsTruncated") == "true"
        return S3ListPage(
            entries: entries, commonPrefixes: result.all("CommonPrefixes").compactMap { $0.value("Prefix") },
            nextContinuationToken: truncated ? result.value("NextContinuationToken") : nil)
    }

    /// An ISO 8601 timestamp as listings carry them (`2026-12-03T05:02:50.000Z`, fraction optional).
    static func parseTimestamp(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// HeadBucket: succeeds when the bucket exists and these credentials may use it.
    public func headBucket(logger: Logger) async throws(S3Error) {
        let response = try await send(Call(method: .HEAD, key: nil, accepted: [200]), logger: logger)
        _ = response
    }

    /// CreateBucket; an existing bucket owned by these credentials is fine.
    public func createBucket(logger: Logger) async throws(S3Error) {
        var body = Body.empty
        var hash = SigV4Signer.emptyPayloadHash
        if configuration.region != "us-east-1" {
            let xml = Array(
                "<CreateBucketConfiguration><LocationConstraint>\(XMLWriter.escape(configuration.region))</LocationConstraint></CreateBucketConfiguration>".utf8)
            body = .bytes(ByteBuffer(bytes: xml))
            hash = SHA256.hash(data: xml).lowercaseHex
        }
        do {
            _ = try await send(Call(method: .PUT, key: nil, body: body, payloadHash: hash), logger: logger)
        } catch {
            guard error.code == .bucketAlreadyOwnedByYou else { throw error }
        }
    }
}
