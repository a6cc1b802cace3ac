import Hummingbird
import StorageCore
import StorageService

/// `GET /object/status/:bucket/*key` (docs/contract.md §12.3): where the newest version of a key
/// stands in its bucket's processing, for its uploader or the service role.
struct ProcessingRoutes: Sendable {
    let service: StorageService
    let authenticator: Authenticator

    func register(on router: some RouterMethods<StorageRequestContext>) {
        router.get("object/status/:bucket/**", use: status)
    }

    @Sendable func status(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: 2)
        let caller = try await authenticator.caller(request, context: context)
        let status = try await service.processingStatus(bucketID: bucket, name: key, caller: caller)
        return Responses.json(.object([
            ("state", .string(status.state)),
            ("version", .string(status.version)),
            ("sha256", .optional(status.sha256)),
            ("reason", .optional(status.reason)),
            ("steps", .array(status.steps.map { step in
                .object([("name", .string(step.name)), ("state", .string(step.state)), ("detail", .optional(step.detail))])
            })),
            ("deliveries", .array(status.deliveries.map { delivery in
                .object([
                    ("target", .string(delivery.target)), ("state", .string(delivery.state)),
                    ("attempts", .integer(Int64(delivery.attempts))),
                ])
            })),
        ]))
    }
}
