#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The kinds of change an event reports (docs/contract.md §12.2). Names as upstream's webhooks
/// send them, but bucket events as the project settles them (`BucketCreated`, not `Bucket:Created`).
public enum StorageEventType: String, Sendable, CaseIterable {
    /// An object written over an existing one, or by PUT.
    case objectCreatedPut = "ObjectCreated:Put"
    /// A new object written by POST.
    case objectCreatedPost = "ObjectCreated:Post"
    case objectCreatedCopy = "ObjectCreated:Copy"
    /// The destination of a move (its payload names the source in `oldObject`).
    case objectCreatedMove = "ObjectCreated:Move"
    /// One per object, also for delete-many and a bucket's emptying.
    case objectRemovedDelete = "ObjectRemoved:Delete"
    /// The source of a move.
    case objectRemovedMove = "ObjectRemoved:Move"
    case objectUpdatedMetadata = "ObjectUpdated:Metadata"
    case bucketCreated = "BucketCreated"
    /// A new version a processing step refused (its payload names the step and the reason).
    case objectRejected = "ObjectRejected"
    /// A ready version copied to a delivery target (its payload names the target and the path).
    case objectDelivered = "ObjectDelivered"
    case bucketDeleted = "BucketDeleted"
}

/// How an object's bytes arrived (`payload.uploadType` of `ObjectCreated:Put` and `:Post`).
public enum UploadType: String, Sendable {
    case standard, resumable, s3
}

/// The server's identity in event bodies: the tenant (`tenant.ref`, `tenant.host`) and region.
public struct EventSource: Sendable, Equatable {
    public var tenantID: String
    public var host: String
    public var region: String

    public init(tenantID: String, host: String, region: String) {
        self.tenantID = tenantID
        self.host = host
        self.region = region
    }
}

/// One change to report, built by the use case and written to the outbox by the transaction
/// that makes the change.
public struct StorageEvent: Sendable, Equatable {
    /// The event's id: the webhook's `webhook-id`, the same on every retry.
    public var id: UUID
    public var type: StorageEventType
    public var bucketID: String
    /// The object's name; nil for bucket events.
    public var name: String?
    /// The body's `event` member: `{"$version","type","region","payload","applyTime"}`.
    public var document: JSONValue

    /// Events of one key are delivered in commit order: this is the key.
    public var orderKey: String { name.map { "\(bucketID)/\($0)" } ?? bucketID }

    public init(id: UUID = UUID(), type: StorageEventType, bucketID: String, name: String?, document: JSONValue) {
        self.id = id
        self.type = type
        self.bucketID = bucketID
        self.name = name
        self.document = document
    }

    /// `event.$version`, as upstream.
    public static let version = "v1"

    /// An event with upstream's envelope around `payload`. The payload always carries
    /// `bucketId`, `tenant` and `reqId` (when the change had a request); the caller adds the rest.
    public static func make(
        _ type: StorageEventType, bucketID: String, name: String?, payload: [String: JSONValue],
        source: EventSource, requestID: String?, at time: Date = Date()
    ) -> StorageEvent {
        var members = payload
        members["bucketId"] = .string(bucketID)
        if let name { members["name"] = .string(name) }
        members["tenant"] = .object(["ref": .string(source.tenantID), "host": .string(source.host)])
        if let requestID { members["reqId"] = .string(requestID) }
        let document = JSONValue.object([
            "$version": .string(version),
            "type": .string(type.rawValue),
            "region": .string(source.region),
            "payload": .object(members),
            "applyTime": .integer(Int64((time.timeIntervalSince1970 * 1000).rounded(.down))),
        ])
        return StorageEvent(type: type, bucketID: bucketID, name: name, document: document)
    }
}

/// An event as `GET /events` lists it.
public struct EventRecord: Sendable, Equatable {
    public var id: UUID
    public var type: String
    public var bucketID: String
    public var name: String?
    public var status: String
    public var attempts: Int
    public var lastError: String?
    public var createdAt: Date
    public var deliveredAt: Date?

    public init(
        id: UUID, type: String, bucketID: String, name: String?, status: String, attempts: Int, lastError: String?,
        createdAt: Date, deliveredAt: Date?
    ) {
        self.id = id
        self.type = type
        self.bucketID = bucketID
        self.name = name
        self.status = status
        self.attempts = attempts
        self.lastError = lastError
        self.createdAt = createdAt
        self.deliveredAt = deliveredAt
    }
}

/// The statuses an event moves through: `pending` until a 2xx, `failed` after the last attempt.
public enum EventStatus: String, Sendable, CaseIterable {
    case pending, delivered, failed
}
