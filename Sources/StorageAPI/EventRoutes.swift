import Foundation
import Hummingbird
import StorageCore
import StorageService

/// `/events` (docs/contract.md §12.2): the outbox, for the service role.
struct EventRoutes: Sendable {
    let service: StorageService
    let authenticator: Authenticator

    func register(on router: some RouterMethods<StorageRequestContext>) {
        router.get("events", use: list)
        router.post("events/:eventId/retry", use: retry)
    }

    @Sendable func list(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(request, context: context)
        let query = request.query
        var status: EventStatus?
        if let text = query["status"] {
            guard let value = EventStatus(rawValue: text) else {
                throw StorageError.validation("querystring/status must be equal to one of the allowed values")
            }
            status = value
        }
        var after: UUID?
        if let text = query["after"] {
            guard let value = UUID(uuidString: text) else { throw StorageError.validation("querystring/after must be an event id") }
            after = value
        }
        let limit = try BucketRoutes.integer(query["limit"], name: "limit", minimum: 1) ?? 100
        let events = try await service.listEvents(caller: caller, status: status, after: after, limit: limit)
        return Responses.json(.array(events.map(JSONOutput.event)))
    }

    @Sendable func retry(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(request, context: context)
        guard let id = context.parameters.get("eventId").flatMap(UUID.init(uuidString:)) else {
            throw StorageError.noSuchEvent
        }
        try await service.retryEvent(id, caller: caller)
        return Responses.message("Event queued for delivery")
    }
}

extension JSONOutput {
    static func event(_ event: EventRecord) -> JSONOutput {
        .object([
            ("id", .uuid(event.id)),
            ("type", .string(event.type)),
            ("bucketId", .string(event.bucketID)),
            ("name", .optional(event.name)),
            ("status", .string(event.status)),
            ("attempts", .integer(Int64(event.attempts))),
            ("lastError", .optional(event.lastError)),
            ("createdAt", .timestamp(event.createdAt)),
            ("deliveredAt", .timestamp(event.deliveredAt)),
        ])
    }
}
