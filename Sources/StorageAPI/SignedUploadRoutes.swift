import Auth
import Foundation
import Hummingbird
import StorageCore
import StorageService

/// Signed upload URLs (contract §5.9): minted by a caller row-level security lets upload, used
/// without a JWT by whoever holds the token.
struct SignedUploadRoutes: Sendable {
    let service: StorageService
    let authenticator: Authenticator
    let tokens: SignedURLTokens
    /// Token lifetime in seconds (`UPLOAD_SIGNED_URL_EXPIRATION_TIME`).
    let lifetime: Int64

    func register(on router: some RouterMethods<StorageRequestContext>) {
        router.post("object/upload/sign/:bucket/**", use: mint)
        router.put("object/upload/sign/:bucket/**", use: upload)
    }

    /// `POST /object/upload/sign/:bucket/*` → `{url, token}` after the RLS probe.
    @Sendable func mint(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: 3)
        let caller = try await authenticator.caller(request, context: context)
        let upsert = request.headers[.xUpsert] == "true"
        try await service.authorizeSignedUploadURL(
            bucketID: bucket, name: key, upsert: upsert, mimeType: request.headers[.contentType],
            declaredLength: request.declaredContentLength,
            userMetadata: try UploadBodies.userMetadata(base64: request.headers[.xMetadata]), caller: caller)
        let url = "\(bucket)/\(key)"
        let token = tokens.uploadToken(url: url, owner: caller.jwt?.sub, upsert: upsert, expiresIn: lifetime)
        return Responses.json(.object([
            ("url", .string("/object/upload/sign/\(url)?token=\(token)")), ("token", .string(token)),
        ]))
    }

    /// `PUT /object/upload/sign/:bucket/*?token=` → `{Key}`; owner and upsert come from the token.
    @Sendable func upload(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: 3)
        let claims = try await SignedAccess.verify(request, tokens: tokens, scope: .upload, bucket: bucket, key: key)
        let caller = authenticator.anonymous(request, context: context)
        let outcome = try await UploadBodies.upload(
            request, bucket: bucket, key: key, upsert: claims.upsert, operation: .objectUploadSigned,
            destination: {
                try await service.uploadDestination(bucketID: bucket, name: key, caller: caller, operation: .objectUploadSigned)
            }
        ) { uploadRequest in try await service.uploadSigned(uploadRequest, owner: claims.owner, caller: caller) }
        guard case .stored = outcome else { return Responses.processing(bucket: bucket, key: key, request: request) }
        return Responses.json(.object([("Key", .string("\(bucket)/\(key)"))]))
    }
}
