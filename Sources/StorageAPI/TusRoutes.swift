import Auth
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StorageCore
import StorageService
import WireFormats

extension HTTPField.Name {
    static let tusResumable = Self("Tus-Resumable")!
    static let tusVersion = Self("Tus-Version")!
    static let tusExtension = Self("Tus-Extension")!
    static let tusMaxSize = Self("Tus-Max-Size")!
    static let tusChecksumAlgorithm = Self("Tus-Checksum-Algorithm")!
    static let tusComplete = Self("Tus-Complete")!
    static let uploadLength = Self("Upload-Length")!
    static let uploadDeferLength = Self("Upload-Defer-Length")!
    static let uploadOffset = Self("Upload-Offset")!
    static let uploadMetadata = Self("Upload-Metadata")!
    static let uploadExpires = Self("Upload-Expires")!
    static let uploadChecksum = Self("Upload-Checksum")!
    static let xSignature = Self("x-signature")!
    static let xForwardedPort = Self("x-forwarded-port")!
    static let xHTTPMethodOverride = Self("X-HTTP-Method-Override")!
}

/// Resumable uploads over TUS 1.0 (contract §5.11): `/upload/resumable` with a JWT,
/// `/upload/resumable/sign` with a signed upload token in `x-signature`.
///
/// TUS failures answer with their real status and a plain-text body, as tus clients expect;
/// a missing or invalid JWT still gets the JSON envelope (it is checked before the protocol).
struct TusRoutes: Sendable {
    static let path = "upload/resumable"
    static let extensions = "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum"

    let service: StorageService
    let authenticator: Authenticator
    let tokens: SignedURLTokens
    let publicURL: URL?

    func register(on router: some RouterMethods<StorageRequestContext>) {
        let tus = router.group(RouterPath(Self.path))
        tus.on("", method: .options) { _, _ in options() }
        tus.on(":id", method: .options) { _, _ in options() }
        tus.on("sign", method: .options) { _, _ in options() }
        tus.on("sign/:id", method: .options) { _, _ in options() }
        for signed in [false, true] {
            let base: RouterPath = signed ? "sign" : ""
            let withID: RouterPath = signed ? "sign/:id" : ":id"
            tus.post(base) { request, context in try await create(request, context: context, signed: signed) }
            tus.on(withID, method: .head) { request, context in try await head(request, context: context, signed: signed) }
            tus.patch(withID) { request, context in try await patch(request, context: context, signed: signed) }
            tus.delete(withID) { request, context in try await terminate(request, context: context, signed: signed) }
            tus.get(withID) { request, context in try await progress(request, context: context, signed: signed) }
            tus.post(withID) { request, context in try await overridden(request, context: context, signed: signed) }
        }
    }

    /// `POST` on an upload URL with `X-HTTP-Method-Override` (tus-js-client's `overridePatchMethod`,
    /// for proxies and runtimes that cannot send PATCH or DELETE): the request is the method it
    /// names, as tus-node-server treats it. Without one, or naming a method upload URLs do not
    /// take, it is refused with 405 rather than read as a second creation.
    func overridden(_ request: Request, context: StorageRequestContext, signed: Bool) async throws -> Response {
        switch request.headers[.xHTTPMethodOverride]?.uppercased() {
        case "PATCH": return try await patch(request, context: context, signed: signed)
        case "DELETE": return try await terminate(request, context: context, signed: signed)
        case "HEAD": return try await head(request, context: context, signed: signed)
        case "GET": return try await progress(request, context: context, signed: signed)
        default:
            _ = try await jwtCaller(request, context: context, signed: signed)
            return try await Self.answer { throw TusErrors.methodNotAllowed }
        }
    }

    // MARK: - Handlers

    func options() -> Response {
        var headers = Self.protocolHeaders
        headers[.tusVersion] = TusHeaders.version
        headers[.tusExtension] = Self.extensions
        headers[.tusMaxSize] = String(service.uploadFileSizeLimit)
        headers[.tusChecksumAlgorithm] = UploadChecksum.supported
        headers[.accessControlAllowMethods] = "POST, HEAD, PATCH, OPTIONS, DELETE"
        headers[.accessControlAllowHeaders] = CORSPolicy.allowedHeaders
        headers[.accessControlMaxAge] = "86400"
        return Response(status: .noContent, headers: headers)
    }

    func create(_ request: Request, context: StorageRequestContext, signed: Bool) async throws -> Response {
        let caller = try await jwtCaller(request, context: context, signed: signed)
        return try await Self.answer {
            try TusHeaders.checkVersion(request.headers[.tusResumable])
            let length = try TusHeaders.uploadLength(
                length: request.headers[.uploadLength], deferLength: request.headers[.uploadDeferLength])
            guard let header = request.headers[.uploadMetadata] else { throw TusErrors.metadataRequired }
            let metadata = try TusHeaders.metadata(header)
            let bucket = metadata["bucketName"] ?? ""
            let name = metadata["objectName"] ?? ""
            try BucketName.validate(bucket)
            try ObjectKey.validate(name)
            let authority = try await self.authority(request, context: context, caller: caller, bucket: bucket, name: name)
            let creation = ResumableCreation(
                bucketID: bucket, name: name, length: length,
                contentType: metadata["contentType"].flatMap { $0.isEmpty ? nil : $0 },
                cacheControl: Self.cacheControl(metadata["cacheControl"]),
                userMetadata: try UploadBodies.userMetadata(json: metadata["metadata"]),
                upsert: request.headers[.xUpsert] == "true")
            // creation-with-upload: the body is the first chunk.
            let withUpload = request.headers[.contentType] == "application/offset+octet-stream"
            let status = try await service.createResumableUpload(
                creation, firstChunk: withUpload ? try chunk(request, offset: 0, uploadLength: nil) : nil,
                authority: authority)
            var headers = Self.protocolHeaders
            headers[.location] = location(request, id: status.id, signed: signed)
            if withUpload { headers[.uploadOffset] = String(status.offset) }
            Self.progressHeaders(status, into: &headers)
            return Response(status: .created, headers: headers)
        }
    }

    func head(_ request: Request, context: StorageRequestContext, signed: Bool) async throws -> Response {
        try await onUpload(request, context: context, signed: signed, checks: {}) { id, authority, _ in
            let status = try await service.resumableUploadStatus(id, authority: authority)
            var headers = Self.protocolHeaders
            headers[.cacheControl] = "no-store"
            headers[.uploadOffset] = String(status.offset)
            if let length = status.length {
                headers[.uploadLength] = String(length)
            } else {
                headers[.uploadDeferLength] = "1"
            }
            headers[.uploadExpires] = HTTPDate.format(status.expiresAt)
            headers[.uploadMetadata] = Self.metadataEcho(status)
            return Response(status: .ok, headers: headers)
        }
    }

    func patch(_ request: Request, context: StorageRequestContext, signed: Bool) async throws -> Response {
        try await onUpload(request, context: context, signed: signed) {
            let offset = try TusHeaders.offset(request.headers[.uploadOffset])
            try TusHeaders.checkPatchContentType(request.headers[.contentType])
            return try chunk(request, offset: offset, uploadLength: try TusHeaders.patchLength(request.headers[.uploadLength]))
        } _: { id, authority, chunk in
            let status = try await service.appendToResumableUpload(id, chunk: chunk, authority: authority)
            var headers = Self.protocolHeaders
            headers[.uploadOffset] = String(status.offset)
            Self.progressHeaders(status, into: &headers)
            if status.stillProcessing {
                // The last byte is in; the object is not readable until its steps passed.
                let pending = Responses.processing(bucket: id.bucketID, key: id.name, request: request)
                headers[.location] = pending.headers[.location]
                return Response(status: .accepted, headers: headers)
            }
            return Response(status: .noContent, headers: headers)
        }
    }

    func terminate(_ request: Request, context: StorageRequestContext, signed: Bool) async throws -> Response {
        try await onUpload(request, context: context, signed: signed, checks: {}) { id, authority, _ in
            try await service.terminateResumableUpload(id, authority: authority)
            return Response(status: .noContent, headers: Self.protocolHeaders)
        }
    }

    /// A step on an existing upload: the JWT (envelope errors), then the protocol version, the
    /// upload id, the step's own header `checks` and the caller's authority (TUS errors).
    private func onUpload<Checked>(
        _ request: Request, context: StorageRequestContext, signed: Bool, checks: () throws -> Checked,
        _ step: (ResumableUploadID, ResumableAuthority, Checked) async throws -> Response
    ) async throws -> Response {
        let caller = try await jwtCaller(request, context: context, signed: signed)
        return try await Self.answer {
            try TusHeaders.checkVersion(request.headers[.tusResumable])
            let id = try uploadID(context)
            let checked = try checks()
            let authority = try await authority(request, context: context, caller: caller, bucket: id.bucketID, name: id.name)
            return try await step(id, authority, checked)
        }
    }

    /// `GET /upload/resumable/<id>`: progress as JSON, for dashboards (errors as the envelope).
    func progress(_ request: Request, context: StorageRequestContext, signed: Bool) async throws -> Response {
        let caller = try await jwtCaller(request, context: context, signed: signed)
        let id = try uploadID(context)
        let authority = try await authority(request, context: context, caller: caller, bucket: id.bucketID, name: id.name)
        let status = try await service.resumableUploadStatus(id, authority: authority)
        let members: [(String, JSONOutput)] = [
            ("id", .string(id.encoded)), ("bucketName", .string(id.bucketID)), ("objectName", .string(id.name)),
            ("offset", .integer(status.offset)),
            ("length", status.length.map { .integer($0) } ?? .null),
            ("percent", status.percent.map { .value(.number(($0 * 100).rounded() / 100)) } ?? .null),
            ("expiresAt", .string(Timestamp.iso8601(status.expiresAt))),
            ("completed", .bool(status.isCompleted)),
        ]
        return Responses.json(.object(members))
    }

    // MARK: - Parts of requests

    /// The JWT caller of unsigned routes; signed routes take their authority from the token.
    private func jwtCaller(_ request: Request, context: StorageRequestContext, signed: Bool) async throws -> Caller? {
        signed ? nil : try await authenticator.caller(request, context: context)
    }

    private func authority(
        _ request: Request, context: StorageRequestContext, caller: Caller?, bucket: String, name: String
    ) async throws -> ResumableAuthority {
        if let caller { return .caller(caller) }
        guard let token = request.headers[.xSignature], !token.isEmpty else { throw TusErrors.missingSignature }
        let claims = try await tokens.verify(token, scope: .upload, url: "\(bucket)/\(name)")
        return .signed(authenticator.anonymous(request, context: context), owner: claims.owner, upsert: claims.upsert)
    }

    private func uploadID(_ context: StorageRequestContext) throws -> ResumableUploadID {
        try ResumableUploadID(encoded: Substring(context.parameters.get("id") ?? ""))
    }

    private func chunk(_ request: Request, offset: Int64, uploadLength: Int64?) throws -> ResumableChunk<ClientBody> {
        ResumableChunk(
            offset: offset, uploadLength: uploadLength,
            contentLength: request.declaredContentLength,
            checksum: try request.headers[.uploadChecksum].map { header throws(StorageError) in try UploadChecksum(header: header) },
            body: ClientBody(base: request.body))
    }

    /// The absolute upload URL: scheme and host as the client reached us (through any proxy,
    /// or `STORAGE_PUBLIC_URL`), then the proxy's prefix and the mount the request used.
    func location(_ request: Request, id: ResumableUploadID, signed: Bool) -> String {
        var scheme = request.headers[.xForwardedProto].flatMap { $0 == "https" || $0 == "http" ? $0 : nil } ?? "http"
        var host = request.headers[.xForwardedHost] ?? request.head.authority ?? "localhost"
        if request.headers[.xForwardedHost] != nil, let port = request.headers[.xForwardedPort], port != "80", port != "443" {
            host = (host.split(separator: ":").first.map(String.init) ?? host) + ":" + port
        }
        if let publicURL, let publicScheme = publicURL.scheme, let publicHost = publicURL.host {
            scheme = publicScheme
            host = publicURL.port.map { "\(publicHost):\($0)" } ?? publicHost
        }
        var prefix = request.headers[.xForwardedPrefix] ?? ""
        while prefix.hasSuffix("/") { prefix.removeLast() }
        let mount = request.uri.path.hasPrefix(StoragePath.mountPrefix + "/") ? StoragePath.mountPrefix : ""
        return "\(scheme)://\(host)\(prefix)\(mount)/\(Self.path)\(signed ? "/sign" : "")/\(id.encoded)"
    }

    // MARK: - Responses

    static var protocolHeaders: HTTPFields {
        [.tusResumable: TusHeaders.version]
    }

    /// `Tus-Complete: 1` once finished, `Upload-Expires` while it is not.
    static func progressHeaders(_ status: ResumableStatus, into headers: inout HTTPFields) {
        if status.isCompleted {
            headers[.tusComplete] = "1"
        } else {
            headers[.uploadExpires] = HTTPDate.format(status.expiresAt)
        }
    }

    /// `Upload-Metadata` as HEAD echoes it (the stored, rewritten values).
    static func metadataEcho(_ status: ResumableStatus) -> String {
        [
            ("bucketName", status.id.bucketID), ("objectName", status.id.name), ("contentType", status.contentType),
            ("cacheControl", status.cacheControl),
        ].map { "\($0.0) \(Data($0.1.utf8).base64EncodedString())" }.joined(separator: ",")
    }

    /// `cacheControl` metadata: integer seconds become `max-age=N`; anything else `no-cache`.
    static func cacheControl(_ value: String?) -> String {
        guard let value, !value.isEmpty else { return "no-cache" }
        let digits = value.hasPrefix("-") ? value.dropFirst() : Substring(value)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return "no-cache"
        }
        return "max-age=\(value)"
    }

    /// Runs a TUS step; a storage error is to be answered as TUS text (`ErrorRenderer`).
    /// Anything else is a bug and goes on to the error middleware, which logs it.
    static func answer(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as StorageError {
            throw TusFailure(error: error)
        }
    }
}
