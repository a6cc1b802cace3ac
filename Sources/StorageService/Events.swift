import Database
public import Foundation
public import StorageCore

/// Settings of the outbox (docs/contract.md §12.2).
public struct EventSettings: Sendable {
    /// Whether changes write events (`EVENTS_ENABLED`, on by default).
    public var enabled: Bool
    /// The tenant and region event bodies name.
    public var source: EventSource

    public init(enabled: Bool = true, source: EventSource) {
        self.enabled = enabled
        self.source = source
    }
}

/// What a new object version reports: how its bytes came (`ObjectCreated:Put` or `:Post` with an
/// upload type), or that it is a copy.
enum NewVersionEvent: Sendable {
    case upload(UploadType, route: UploadRoute)
    case copy

    /// POST creates, PUT (the update route) replaces; an overwrite is a `Put` either way.
    enum UploadRoute: Sendable { case post, put }
}

extension StorageService {
    /// Writes `events` in `transaction`, the one that makes the change, when events are on.
    func record(_ events: [StorageEvent], in transaction: Transaction) async throws {
        guard settings.events.enabled, !events.isEmpty else { return }
        try await transaction.recordEvents(events)
    }

    /// An object event with upstream's payload: bucket, name, version and metadata of `row`.
    func objectEvent(
        _ type: StorageEventType, _ row: ObjectRecord, requestID: String?, extra: [String: JSONValue] = [:]
    ) -> StorageEvent {
        var payload = extra
        payload["version"] = row.version.map(JSONValue.string) ?? .null
        payload["metadata"] = row.metadata ?? .null
        return StorageEvent.make(
            type, bucketID: row.bucketID, name: row.name, payload: payload, source: settings.events.source,
            requestID: requestID)
    }

    func bucketEvent(_ type: StorageEventType, bucketID: String, bucketType: String?, requestID: String?) -> StorageEvent {
        var payload: [String: JSONValue] = [:]
        if let bucketType { payload["type"] = .string(bucketType) }
        return StorageEvent.make(
            type, bucketID: bucketID, name: nil, payload: payload, source: settings.events.source, requestID: requestID)
    }

    /// The event of a new version `row` that replaced `previous` (nil: a new key).
    func newVersionEvent(_ kind: NewVersionEvent, row: ObjectRecord, previous: ObjectRecord?, requestID: String?) -> [StorageEvent] {
        switch kind {
        case .copy:
            return [objectEvent(.objectCreatedCopy, row, requestID: requestID)]
        case .upload(let uploadType, let route):
            let type: StorageEventType = route == .put || previous != nil ? .objectCreatedPut : .objectCreatedPost
            return [objectEvent(type, row, requestID: requestID, extra: ["uploadType": .string(uploadType.rawValue)])]
        }
    }

    /// One `ObjectRemoved:Delete` per row, in name order.
    func removalEvents(_ rows: [ObjectRecord], requestID: String?) -> [StorageEvent] {
        rows.sorted { $0.name < $1.name }.map { objectEvent(.objectRemovedDelete, $0, requestID: requestID) }
    }

    // MARK: - The outbox, for the service role

    /// Events oldest first (`GET /events`), for the service role only.
    public func listEvents(caller: Caller, status: EventStatus?, after: UUID?, limit: Int) async throws -> [EventRecord] {
        try requireServiceRole(caller)
        return try await database.listEvents(status: status, after: after, limit: min(max(limit, 1), 1000), logger: caller.logger)
    }

    /// Puts a failed event back in the queue (`POST /events/:id/retry`), for the service role only.
    public func retryEvent(_ id: UUID, caller: Caller) async throws {
        try requireServiceRole(caller)
        switch try await database.retryEvent(id, logger: caller.logger) {
        case nil: throw StorageError.noSuchEvent
        case false?: throw StorageError.invalidRequest("Only a failed event can be retried")
        case true?: return
        }
    }

    private func requireServiceRole(_ caller: Caller) throws {
        guard caller.role == "service_role" else { throw StorageError.eventsForServiceRoleOnly }
    }
}
