import Auth
import Foundation
import HTTPTypes
import Hummingbird
import StorageCore
import StorageService
import WireFormats

/// Image render routes (contract §5.10): the object found as a download would find it, then
/// resized and re-encoded in-process (or served from the variant cache).
struct RenderRoutes: Sendable {
    let service: StorageService
    let authenticator: Authenticator
    let tokens: SignedURLTokens
    let limits: ImageTransformation.Limits

    func register(on router: some RouterMethods<StorageRequestContext>) {
        router.get("render/image/authenticated/:bucket/**") { request, context in
            let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: 3)
            let caller = try await authenticator.caller(request, context: context)
            return try await render(
                request, bucket: bucket, key: key, caller: caller, access: .authenticated,
                operation: .renderAuthenticated, transformation: queryTransformation(request))
        }
        router.get("render/image/public/:bucket/**") { request, context in
            let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: 3)
            return try await render(
                request, bucket: bucket, key: key, caller: authenticator.anonymous(request, context: context), access: .publicOnly,
                operation: .renderPublic, transformation: queryTransformation(request))
        }
        router.get("render/image/sign/:bucket/**") { request, context in
            let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: 3)
            let claims = try await SignedAccess.verify(request, tokens: tokens, bucket: bucket, key: key, forRender: true)
            // The token carries the transformations; the query cannot change them.
            let transformation = ImageTransformation.fromTokenClaim(
                claims.transformations ?? "", format: claims.format, limits: limits)
            return try await render(
                request, bucket: bucket, key: key, caller: authenticator.anonymous(request, context: context), access: .signed,
                operation: .renderSigned, transformation: transformation, expires: claims.expiresAt)
        }
    }

    func queryTransformation(_ request: Request) throws -> ImageTransformation {
        try ImageTransformation.fromQuery(request, limits: limits)
    }

    func render(
        _ request: Request, bucket: String, key: String, caller: Caller, access: ReadAccess,
        operation: StorageOperation, transformation: ImageTransformation, expires: Date? = nil
    ) async throws -> Response {
        let rendered = try await service.render(
            bucketID: bucket, name: key, caller: caller, access: access, operation: operation,
            transformation: transformation, accept: request.headers[.accept])
        let metadata = rendered.object.objectMetadata
        var headers: HTTPFields = [
            .contentType: rendered.contentType,
            .contentLength: String(rendered.contentLength),
            .lastModified: HTTPDate.format(rendered.lastModified),
            .xRenderCache: rendered.cacheHit ? "hit" : "miss",
        ]
        if let eTag = metadata?.eTag { headers[.eTag] = eTag }
        if let expires {
            headers[.expires] = HTTPDate.format(expires)
        } else {
            headers[.cacheControl] = metadata?.cacheControl ?? "no-cache"
        }
        let header = transformation.headerValue
        if !header.isEmpty { headers[.xTransformations] = header }
        if rendered.negotiated { headers[.vary] = "Accept" }
        if let disposition = DownloadResponse.contentDisposition(request.query["download"]) {
            headers[.contentDisposition] = disposition
        }
        return Response(
            status: .ok, headers: headers,
            body: Responses.streaming(rendered.body, length: rendered.contentLength))
    }
}

extension ImageTransformation {
    /// The render parameters of a request's query string.
    static func fromQuery(_ request: Request, limits: Limits) throws -> ImageTransformation {
        let query = request.query
        return try parse(location: "querystring", limits: limits) { query[$0] }
    }
}
