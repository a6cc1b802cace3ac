import Hummingbird
import StorageCore
import StorageService

/// `DELETE /cdn`, `/cdn/:bucket`, `/cdn/:bucket/*key` (storage-js `purgeCache`,
/// `purgeBucketCache`): cache purges for the service role (docs/contract.md §5.13).
struct CDNRoutes: Sendable {
    let service: StorageService
    let authenticator: Authenticator

    func register(on router: some RouterMethods<StorageRequestContext>) {
        router.delete("cdn") { request, context in try await purge(request, context: context, segments: 0) }
        router.delete("cdn/:bucket") { request, context in try await purge(request, context: context, segments: 1) }
        router.delete("cdn/:bucket/**") { request, context in try await purge(request, context: context, segments: 2) }
    }

    func purge(_ request: Request, context: StorageRequestContext, segments: Int) async throws -> Response {
        let caller = try await authenticator.caller(request, context: context)
        let transformations = try Self.transformations(request.query["transformations"])
        let scope: CachePurgeScope
        switch segments {
        case 0:
            scope = .tenant
        case 1:
            scope = .bucket(try StoragePath.bucket(request.uri.path, staticSegments: 1))
        default:
            let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: 1)
            scope = .object(bucket: bucket, name: key)
        }
        try await service.purgeCache(scope, transformations: transformations, caller: caller)
        return Responses.json(.object([("message", .string("success")), ("statusCode", .string("200"))]))
    }

    /// `?transformations=true|false`, as upstream's schema coerces a boolean.
    static func transformations(_ text: String?) throws(StorageError) -> Bool {
        switch text {
        case nil, "false": return false
        case "true": return true
        default: throw StorageError.validation("querystring/transformations must be boolean")
        }
    }
}
