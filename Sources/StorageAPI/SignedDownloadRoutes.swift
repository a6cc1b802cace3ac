import Auth
import Foundation
import Hummingbird
import StorageCore
import StorageService

/// Signed download URLs (contract §5.8): minted by a caller who can see the object, used by
/// anyone holding the token until it expires.
struct SignedDownloadRoutes: Sendable {
    let service: StorageService
    let authenticator: Authenticator
    let tokens: SignedURLTokens
    /// Nil when image transformation is disabled: transforms are then ignored when signing.
    let imageLimits: ImageTransformation.Limits?

    /// Most paths one bulk request may sign.
    static let bulkLimit = 1000

    func register(on router: some RouterMethods<StorageRequestContext>) {
        router.post("object/sign/:bucket/**", use: signOne)
        router.post("object/sign/:bucket", use: signMany)
        router.get("object/sign/:bucket/**", use: download)
    }

    /// `expiresIn`: at least one second (schema), at most `SignedURLTokens.maximumLifetime`.
    static func expiresIn(_ body: JSONBody) throws -> Int {
        let seconds = try body.required("expiresIn", body.integer("expiresIn", minimum: 1))
        guard seconds <= SignedURLTokens.maximumLifetime else { throw StorageError.invalidParameter("Invalid Parameter expiresIn") }
        return seconds
    }

    /// `POST /object/sign/:bucket/*` `{expiresIn, transform?}` → `{signedURL}`.
    @Sendable func signOne(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: 2)
        let caller = try await authenticator.caller(request, context: context)
        let body = try await JSONBody.read(request, context: context)
        let expiresIn = try Self.expiresIn(body)
        var transformation = ImageTransformation()
        if let imageLimits, let transform = try body.object("transform") {
            transformation = try ImageTransformation.parse(location: "body/transform", limits: imageLimits) { name in
                (try? transform.string(name)) ?? nil
            }
        }
        try await service.authorizeSignedURL(bucketID: bucket, name: key, caller: caller)
        let url = "\(bucket)/\(key)"
        let signedURL: String
        if transformation.isEmpty {
            let token = tokens.downloadToken(url: url, expiresIn: Int64(expiresIn))
            signedURL = "/object/sign/\(url)?token=\(token)"
        } else {
            let token = tokens.downloadToken(
                url: url, expiresIn: Int64(expiresIn), transformations: transformation.tokenClaim,
                format: transformation.format?.rawValue)
            signedURL = "/render/image/sign/\(url)?token=\(token)"
        }
        return Responses.json(.object([("signedURL", .string(signedURL))]))
    }

    /// `POST /object/sign/:bucket` `{expiresIn, paths}` → one entry per path, in input order.
    @Sendable func signMany(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let bucket = try StoragePath.bucket(request.uri.path, staticSegments: 2)
        let caller = try await authenticator.caller(request, context: context)
        let body = try await JSONBody.read(request, context: context)
        let expiresIn = try Self.expiresIn(body)
        let paths = try body.required("paths", body.stringArray("paths"))
        guard !paths.isEmpty else { throw StorageError.validation("body/paths must NOT have fewer than 1 items") }
        guard paths.count <= Self.bulkLimit else {
            throw StorageError.validation("body/paths must NOT have more than \(Self.bulkLimit) items")
        }
        let visible = try await service.visibleForSigning(bucketID: bucket, names: paths, caller: caller)
        let entries: [JSONOutput] = paths.map { path in
            guard visible.contains(path) else {
                return .object([
                    ("error", .string("Either the object does not exist or you do not have access to it")),
                    ("path", .string(path)), ("signedURL", .null),
                ])
            }
            let url = "\(bucket)/\(path)"
            let token = tokens.downloadToken(url: url, expiresIn: Int64(expiresIn))
            return .object([
                ("error", .null), ("path", .string(path)), ("signedURL", .string("/object/sign/\(url)?token=\(token)")),
            ])
        }
        return Responses.json(.array(entries))
    }

    /// `GET /object/sign/:bucket/*?token=`: the bytes, with `Expires` in place of Cache-Control.
    @Sendable func download(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: 2)
        let claims = try await SignedAccess.verify(request, tokens: tokens, bucket: bucket, key: key)
        let download = try await service.download(
            bucketID: bucket, name: key, caller: authenticator.anonymous(request, context: context), access: .signed,
            operation: .objectGetSigned, conditions: DownloadResponse.conditions(request), version: claims.version)
        return DownloadResponse.make(download, request: request, expires: claims.expiresAt)
    }
}

/// The `token` query parameter of signed URLs.
enum SignedAccess {
    static func verify(
        _ request: Request, tokens: SignedURLTokens, scope: SignedURLTokens.Scope = .download, bucket: String, key: String,
        forRender: Bool = false
    ) async throws -> SignedURLTokens.Claims {
        guard let token = request.query["token"] else {
            throw StorageError.validation("querystring must have required property 'token'")
        }
        try BucketName.validate(bucket)
        try ObjectKey.validate(key)
        return try await tokens.verify(token, scope: scope, url: "\(bucket)/\(key)", forRender: forRender)
    }
}
