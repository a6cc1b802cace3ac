import Synchronization
import Logging
public import Foundation
public import NIOCore
public import StorageCore

/// Settings of resumable (TUS) uploads.
public struct ResumableSettings: Sendable {
    /// How long an upload lives after creation (`TUS_URL_EXPIRY_MS`).
    public var lifetime: Duration
    /// How long a request's lease lasts without renewal: the longest a crashed or partitioned
    /// holder can keep others waiting.
    public var leaseDuration: Duration
    /// How often a holder renews its lease and looks for release requests.
    public var leaseRenewal: Duration
    /// How long a holder asked to release may take to record what it received.
    public var releaseGrace: Duration
    /// How long a request waits for the current holder to let go before answering 423.
    public var lockWait: Duration
    /// How often a waiting request retries the lease.
    public var lockPoll: Duration

    public init(
        lifetime: Duration = .seconds(86_400), leaseDuration: Duration = .seconds(10), leaseRenewal: Duration = .seconds(1),
        releaseGrace: Duration = .seconds(2), lockWait: Duration = .seconds(5), lockPoll: Duration = .milliseconds(200)
    ) {
        self.lifetime = lifetime
        self.leaseDuration = leaseDuration
        self.leaseRenewal = leaseRenewal
        self.releaseGrace = releaseGrace
        self.lockWait = lockWait
        self.lockPoll = lockPoll
    }
}

/// Who acts on a resumable upload.
public enum ResumableAuthority: Sendable {
    /// A caller with a JWT: row-level security decides (the probe runs on create, PATCH, DELETE).
    case caller(Caller)
    /// A signed upload token (`x-signature`): row-level security was checked when it was minted;
    /// its owner and upsert apply.
    case signed(Caller, owner: String?, upsert: Bool)

    var caller: Caller {
        switch self {
        case .caller(let caller), .signed(let caller, _, _): caller
        }
    }

    /// The request's logger.
    var logger: Logger { caller.logger }

    /// The steps of an upload, as `storage.operation()` names them for policies.
    enum Step { case create, part, delete }

    func operation(_ step: Step) -> StorageOperation {
        switch (self, step) {
        case (.caller, .create): .tusCreate
        case (.caller, .part): .tusPart
        case (.caller, .delete): .tusDelete
        case (.signed, .create): .tusCreateSigned
        case (.signed, .part): .tusPartSigned
        case (.signed, .delete): .tusDeleteSigned
        }
    }
}

/// A new resumable upload, as parsed from a TUS POST.
public struct ResumableCreation: Sendable {
    public var bucketID: String
    public var name: String
    public var length: UploadLength
    public var contentType: String?
    /// Already in header form (`max-age=N` or `no-cache`).
    public var cacheControl: String
    public var userMetadata: JSONValue?
    /// `x-upsert: true` (ignored for signed uploads: the token decides).
    public var upsert: Bool

    public init(
        bucketID: String, name: String, length: UploadLength, contentType: String?, cacheControl: String,
        userMetadata: JSONValue?, upsert: Bool
    ) {
        self.bucketID = bucketID
        self.name = name
        self.length = length
        self.contentType = contentType
        self.cacheControl = cacheControl
        self.userMetadata = userMetadata
        self.upsert = upsert
    }
}

/// One PATCH (or the body of a creation-with-upload POST).
public struct ResumableChunk<Body: AsyncSequence & Sendable>: Sendable where Body.Element == ByteBuffer {
    public var offset: Int64
    /// `Upload-Length` on a PATCH of a deferred-length upload.
    public var uploadLength: Int64?
    public var contentLength: Int64?
    public var checksum: UploadChecksum?
    public var body: Body

    public init(offset: Int64, uploadLength: Int64?, contentLength: Int64?, checksum: UploadChecksum?, body: Body) {
        self.offset = offset
        self.uploadLength = uploadLength
        self.contentLength = contentLength
        self.checksum = checksum
        self.body = body
    }
}

/// Where a resumable upload stands, for TUS headers and the JSON progress route.
public struct ResumableStatus: Sendable, Equatable {
    public var id: ResumableUploadID
    public var offset: Int64
    public var length: Int64?
    public var expiresAt: Date
    public var isCompleted: Bool
    public var contentType: String
    public var cacheControl: String
    public var percent: Double?
    /// Completed into a processed bucket whose steps still run: the answer is 202 with the
    /// status resource's location (docs/contract.md §12.3).
    public var stillProcessing = false
}

/// The version a lease's closure finished, read after the lease is released.
final class FinishedVersion: Sendable {
    private let version = Mutex<NewVersion?>(nil)

    func set(_ value: NewVersion?) { version.withLock { $0 = value } }

    var value: NewVersion? { version.withLock { $0 } }
}
