public import Hummingbird
import Foundation
import HTTPTypes
import Logging
import NIOCore
import S3
import S3Protocol
public import StorageAPI
import StorageCore
public import StorageService

/// Settings of the `/s3` endpoint.
public struct S3EndpointSettings: Sendable {
    public var credentials: S3Credentials
    /// The region `GetBucketLocation` names and requests are signed for (`S3_REGION`).
    public var region: String
    /// Refuse requests signed for another region (`S3_PROTOCOL_ENFORCE_REGION`).
    public var enforceRegion: Bool

    public init(credentials: S3Credentials, region: String, enforceRegion: Bool) {
        self.credentials = credentials
        self.region = region
        self.enforceRegion = enforceRegion
    }
}

/// The S3 protocol endpoint (spec §5.13): path-style `/s3/<bucket>/<key…>` (also under
/// `/storage/v1`), SigV4-signed, over the same use cases, rows and bytes as the REST API.
/// Every failure is answered as an S3 XML error with its real status.
public struct S3Routes: Sendable {
    let service: StorageService
    let authenticator: Authenticator
    let settings: S3EndpointSettings
    let verifier: SigV4Verifier

    public init(service: StorageService, authenticator: Authenticator, settings: S3EndpointSettings) {
        self.service = service
        self.authenticator = authenticator
        self.settings = settings
        self.verifier = SigV4Verifier(enforcedRegion: settings.enforceRegion ? settings.region : nil)
    }

    /// Adds the endpoint's routes; the router's middleware (request id, access log, metrics) applies.
    public func register(on router: Router<StorageRequestContext>) {
        for base in ["s3", "storage/v1/s3"] {
            for path in [base, base + "/:bucket", base + "/:bucket/**"] {
                for method in [HTTPRequest.Method.get, .head, .put, .post, .delete] {
                    router.on(RouterPath(path), method: method) { request, context in
                        await handle(request, context: context)
                    }
                }
            }
        }
    }

    func handle(_ request: Request, context: StorageRequestContext) async -> Response {
        do {
            let received = Self.received(request)
            let verified = try verify(received)
            let token = try settings.credentials.token(for: verified)
            let caller = try await authenticator.caller(token: token, request: request, context: context)
            let call = S3Call(
                request: request, received: received, verified: verified, caller: caller, target: try S3Target.parse(request.uri.path),
                query: Dictionary(received.queryItems, uniquingKeysWith: { first, _ in first }), context: context)
            return try await dispatch(call)
        } catch {
            let failure = S3Failure.from(error)
            if failure.status >= 500 {
                context.logger.error("s3 request failed", metadata: ["error": "\(failure)"])
            } else {
                context.logger.info("s3 request refused", metadata: ["error": "\(failure)"])
            }
            return failure.response(
                resource: request.uri.path, requestID: context.requestID, head: request.method == .head)
        }
    }

    /// Verifies the signature as the request arrived; failing that, as a client signs that took the
    /// endpoint's path for part of its host name (s3cmd with `host_base = host:port/s3` signs the
    /// host `host:port/s3` and the path below it).
    func verify(_ received: ReceivedS3Request) throws(S3AuthError) -> VerifiedS3Request {
        let now = Date()
        do {
            return try verifier.verify(received, now: now) { settings.credentials.secret(for: $0) }
        } catch where error.s3Code == "SignatureDoesNotMatch" {
            guard let alternative = received.mountInHost() else { throw error }
            return try verifier.verify(alternative, now: now) { settings.credentials.secret(for: $0) }
        }
    }

    /// What the client signed: method, raw path and query, and every header with the host, which
    /// HTTP/1 parsing moved into the request's authority.
    static func received(_ request: Request) -> ReceivedS3Request {
        var headers = request.headers.map { ($0.name.canonicalName, $0.value) }
        if let authority = request.head.authority { headers.append(("host", authority)) }
        let path = request.uri.path
        let mount = path.hasPrefix("/storage/v1/s3") ? "/storage/v1/s3" : "/s3"
        return ReceivedS3Request(
            method: request.method.rawValue, rawPath: path, rawQuery: request.uri.query ?? "", headers: headers,
            resourcePath: path.hasPrefix(mount) ? String(path.dropFirst(mount.count)) : nil)
    }

    func dispatch(_ call: S3Call) async throws -> Response {
        let method = call.request.method
        switch call.target {
        case .service:
            guard method == .get else { throw S3Failure.notImplemented }
            return try await listBuckets(call)
        case .bucket(let bucket):
            switch method {
            case .get:
                if call.has("location") { return location() }
                if call.has("versioning") { return versioning() }
                if call.has("uploads") { return try await listMultipartUploads(call, bucket: bucket) }
                if call.has("acl") || call.has("policy") || call.has("cors") || call.has("lifecycle") || call.has("tagging") {
                    throw S3Failure.notImplemented
                }
                return try await listObjects(call, bucket: bucket, version2: call.query["list-type"] == "2")
            case .put: return try await createBucket(call, bucket: bucket)
            case .head: return try await headBucket(call, bucket: bucket)
            case .delete: return try await deleteBucket(call, bucket: bucket)
            case .post where call.has("delete"): return try await deleteObjects(call, bucket: bucket)
            default: throw S3Failure.notImplemented
            }
        case .object(let bucket, let key):
            switch method {
            case .get:
                if call.has("uploadId") { return try await listParts(call, bucket: bucket, key: key) }
                if call.has("tagging") { return try await tagging(call, bucket: bucket, key: key) }
                if call.has("acl") { throw S3Failure.notImplemented }
                return try await getObject(call, bucket: bucket, key: key)
            case .head: return try await headObject(call, bucket: bucket, key: key)
            case .put:
                if call.has("uploadId") {
                    return call.header("x-amz-copy-source") != nil
                        ? try await uploadPartCopy(call, bucket: bucket, key: key)
                        : try await uploadPart(call, bucket: bucket, key: key)
                }
                if call.has("tagging") || call.has("acl") { throw S3Failure.notImplemented }
                if call.header("x-amz-copy-source") != nil { return try await copyObject(call, bucket: bucket, key: key) }
                return try await putObject(call, bucket: bucket, key: key)
            case .post:
                if call.has("uploads") { return try await createMultipartUpload(call, bucket: bucket, key: key) }
                if call.has("uploadId") { return try await completeMultipartUpload(call, bucket: bucket, key: key) }
                throw S3Failure.notImplemented
            case .delete:
                if call.has("uploadId") { return try await abortMultipartUpload(call, bucket: bucket, key: key) }
                return try await deleteObject(call, bucket: bucket, key: key)
            default: throw S3Failure.notImplemented
            }
        }
    }
}

/// What an `/s3` path names.
enum S3Target: Equatable {
    case service
    case bucket(String)
    case object(bucket: String, key: String)

    /// Parses the raw path (`[/storage/v1]/s3[/<bucket>[/<key…>]]`), percent-decoding bucket and key.
    static func parse(_ rawPath: String) throws(S3Failure) -> S3Target {
        var path = Substring(rawPath)
        if path.hasPrefix("/storage/v1/") { path = path.dropFirst("/storage/v1".count) }
        guard path.hasPrefix("/s3") else { throw S3Failure(code: "InvalidURI", status: 400, message: "Couldn't parse the specified URI.") }
        path = path.dropFirst(3)
        if path.hasPrefix("/") { path = path.dropFirst() }
        if path.isEmpty { return .service }
        let bucketPart = path.prefix { $0 != "/" }
        let rest = path.dropFirst(bucketPart.count).dropFirst()
        guard let bucket = String(bucketPart).removingPercentEncoding, let key = String(rest).removingPercentEncoding else {
            throw S3Failure(code: "InvalidURI", status: 400, message: "Couldn't parse the specified URI.")
        }
        return key.isEmpty ? .bucket(bucket) : .object(bucket: bucket, key: key)
    }
}

/// One authenticated `/s3` request.
struct S3Call {
    let request: Request
    let received: ReceivedS3Request
    let verified: VerifiedS3Request
    let caller: Caller
    let target: S3Target
    let query: [String: String]
    let context: StorageRequestContext

    func has(_ name: String) -> Bool { query[name] != nil }
    func header(_ name: String) -> String? { received.header(name) }
    var logger: Logger { context.logger }
}

extension ReceivedS3Request {
    /// The same request with the mount moved from the path into the host (nil without a mount).
    func mountInHost() -> ReceivedS3Request? {
        guard let resourcePath, let host = header("host"), rawPath.hasSuffix(resourcePath) else { return nil }
        let mount = rawPath.dropLast(resourcePath.count)
        var moved = self
        moved.rawPath = resourcePath.isEmpty ? "/" : resourcePath
        moved.headers = headers.map { $0.0.lowercased() == "host" ? ($0.0, host + mount) : $0 }
        return moved
    }
}
