public import Logging
public import Foundation
import PostgresNIO
public import StorageCore

/// What a new resumable upload records (everything but the protocol progress).
public struct NewResumableUpload: Sendable {
    public var id: ResumableUploadID
    public var uploadLength: Int64?
    public var sizeLimit: Int64
    public var contentType: String
    public var cacheControl: String
    public var userMetadata: JSONValue?
    public var upsert: Bool
    public var ownerSub: String?
    /// Who created it, the only caller (besides the service role) who may reach it.
    public var creator: ResumableCreator
    /// The backend pieces' starting state, as JSON.
    public var pieces: String

    public init(
        id: ResumableUploadID, uploadLength: Int64?, sizeLimit: Int64, contentType: String, cacheControl: String,
        userMetadata: JSONValue?, upsert: Bool, ownerSub: String?, creator: ResumableCreator, pieces: String
    ) {
        self.creator = creator
        self.id = id
        self.uploadLength = uploadLength
        self.sizeLimit = sizeLimit
        self.contentType = contentType
        self.cacheControl = cacheControl
        self.userMetadata = userMetadata
        self.upsert = upsert
        self.ownerSub = ownerSub
        self.pieces = pieces
    }
}

/// Who created a resumable upload.
public enum ResumableCreator: Sendable, Equatable {
    /// A caller with a JWT: its `sub`, or its role when the token has no `sub`.
    case caller(sub: String?, role: String)
    /// A holder of a signed upload token for the object.
    case signedToken
}

/// One row of `storage_api.resumable_uploads`, read together with the database clock (leases
/// and expiry are judged by the database's time, the same for every replica).
public struct ResumableUploadRow: Sendable {
    public var id: ResumableUploadID
    public var uploadLength: Int64?
    public var sizeLimit: Int64
    public var received: Int64
    public var contentType: String
    public var cacheControl: String
    public var userMetadata: JSONValue?
    public var upsert: Bool
    public var ownerSub: String?
    public var creator: ResumableCreator
    public var pieces: String
    public var leaseEpoch: Int64
    public var leaseHeld: Bool
    public var createdAt: Date
    public var expiresAt: Date
    public var completedAt: Date?
    /// `now()` of the statement that read the row.
    public var databaseNow: Date

    /// The protocol state machine's view of the row.
    public var protocolState: ResumableUpload {
        ResumableUpload(
            length: uploadLength, offset: received, sizeLimit: sizeLimit, expiresAt: expiresAt, isCompleted: completedAt != nil)
    }
}

/// A request's hold on one upload: the epoch every write must name.
public struct ResumableLease: Sendable, Equatable {
    public let uploadID: String
    public let epoch: Int64
}

/// The lease was taken over (it expired, or its holder was asked to release it): the holder's
/// writes are refused.
public struct ResumableLeaseLost: Error, Sendable {
    public init() {}
}

/// Kinds of backend piece numbers (both sequences are handed out under the lease).
public enum ResumableNumber: Sendable {
    /// Temporary piece objects.
    case piece
    /// S3 multipart part numbers (1…10000).
    case part
}

/// The columns `decodeResumable` reads, in its order.
enum ResumableColumns: String, SQLFragment {
    case row = """
        id, upload_length, size_limit, received, content_type, cache_control, user_metadata, upsert, owner_sub,
        pieces::text, lease_epoch, (lease_expires_at IS NOT NULL AND lease_expires_at > now()), created_at, expires_at,
        completed_at, now(), creator_sub, creator_role, created_signed
        """
}

extension ResumableNumber {
    /// The counter column each kind of number comes from.
    enum Column: String, SQLFragment {
        case nextPiece = "next_piece"
        case nextPart = "next_part"
    }

    var column: Column { self == .piece ? .nextPiece : .nextPart }
}

extension StorageDatabase {
    /// Records a new upload, expiring `lifetime` from now (database time).
    public func insertResumableUpload(_ upload: NewResumableUpload, lifetime: Duration, logger: Logger) async throws -> ResumableUploadRow {
        let milliseconds = Self.milliseconds(lifetime)
        return try await internalTransaction(logger: logger) { transaction in
            let (creatorSub, creatorRole, createdSigned): (String?, String?, Bool)
            switch upload.creator {
            case .caller(let sub, let role): (creatorSub, creatorRole, createdSigned) = (sub, role, false)
            case .signedToken: (creatorSub, creatorRole, createdSigned) = (nil, nil, true)
            }
            let rows = try await transaction.query(
                """
                INSERT INTO storage_api.resumable_uploads
                  (id, bucket_id, name, version, upload_length, size_limit, content_type, cache_control,
                   user_metadata, upsert, owner_sub, pieces, expires_at, creator_sub, creator_role, created_signed)
                VALUES (\(upload.id.encoded), \(upload.id.bucketID), \(upload.id.name), \(upload.id.version),
                        \(upload.uploadLength), \(upload.sizeLimit), \(upload.contentType), \(upload.cacheControl),
                        \(upload.userMetadata), \(upload.upsert), \(upload.ownerSub), \(upload.pieces)::jsonb,
                        now() + make_interval(secs => \(milliseconds)::bigint / 1000.0), \(creatorSub), \(creatorRole),
                        \(createdSigned))
                RETURNING \(sql: ResumableColumns.row)
                """)
            return try Self.decodeResumable(rows)!
        }
    }

    /// The upload, or `nil` if there is none (never created, terminated, or swept).
    public func resumableUpload(_ id: ResumableUploadID, logger: Logger) async throws -> ResumableUploadRow? {
        try await internalTransaction(logger: logger) { transaction in
            try Self.decodeResumable(
                try await transaction.query(
                    "SELECT \(sql: ResumableColumns.row) FROM storage_api.resumable_uploads WHERE id = \(id.encoded)"))
        }
    }

    /// Takes the lease if nobody holds it (or the holder's lease ran out). Returns the row with
    /// its new epoch, or `nil` with the row as it is when someone else holds it.
    public func acquireResumableLease(
        _ id: ResumableUploadID, duration: Duration, logger: Logger
    ) async throws -> (lease: ResumableLease?, row: ResumableUploadRow)? {
        let milliseconds = Self.milliseconds(duration)
        return try await internalTransaction(logger: logger) { transaction in
            let acquired = try await transaction.query(
                """
                UPDATE storage_api.resumable_uploads
                SET lease_epoch = lease_epoch + 1, release_requested = false,
                    lease_expires_at = now() + make_interval(secs => \(milliseconds)::bigint / 1000.0)
                WHERE id = \(id.encoded) AND (lease_expires_at IS NULL OR lease_expires_at <= now())
                RETURNING \(sql: ResumableColumns.row)
                """)
            if let row = try Self.decodeResumable(acquired) {
                return (ResumableLease(uploadID: id.encoded, epoch: row.leaseEpoch), row)
            }
            let current = try await transaction.query(
                "SELECT \(sql: ResumableColumns.row) FROM storage_api.resumable_uploads WHERE id = \(id.encoded)")
            return try Self.decodeResumable(current).map { (nil, $0) }
        }
    }

    /// Asks the current holder to let go (TUS 1.0 "request release"): it stops at its next lease
    /// renewal and keeps what is durable.
    public func requestResumableRelease(_ id: ResumableUploadID, logger: Logger) async throws {
        try await internalTransaction(logger: logger) { transaction in
            _ = try await transaction.query(
                "UPDATE storage_api.resumable_uploads SET release_requested = true WHERE id = \(id.encoded) AND lease_expires_at > now()")
        }
    }

    /// Extends the lease. Returns whether a release was requested; throws `ResumableLeaseLost`
    /// if the lease is no longer this holder's.
    ///
    /// Holders are fenced by the epoch alone: only a takeover (which needs the lease to have run
    /// out) raises it. A holder whose renewal came late (a loaded machine) but that nobody took
    /// over carries on instead of failing a PATCH no other request wanted.
    public func renewResumableLease(_ lease: ResumableLease, duration: Duration, logger: Logger) async throws -> Bool {
        let milliseconds = Self.milliseconds(duration)
        return try await internalTransaction(logger: logger) { transaction in
            let rows = try await transaction.query(
                """
                UPDATE storage_api.resumable_uploads
                SET lease_expires_at = now() + make_interval(secs => \(milliseconds)::bigint / 1000.0)
                WHERE id = \(lease.uploadID) AND lease_epoch = \(lease.epoch)
                RETURNING release_requested
                """)
            guard let row = rows.first else { throw ResumableLeaseLost() }
            return try row.decode(Bool.self)
        }
    }

    /// Gives the lease up (a no-op if it was already taken over).
    public func releaseResumableLease(_ lease: ResumableLease, logger: Logger) async throws {
        try await internalTransaction(logger: logger) { transaction in
            _ = try await transaction.query(
                """
                UPDATE storage_api.resumable_uploads SET lease_expires_at = NULL, release_requested = false
                WHERE id = \(lease.uploadID) AND lease_epoch = \(lease.epoch)
                """)
        }
    }

    /// Hands out the next piece or part number, under the lease.
    public func reserveResumableNumber(_ kind: ResumableNumber, lease: ResumableLease, logger: Logger) async throws -> Int {
        try await internalTransaction(logger: logger) { transaction in
            let rows = try await transaction.query(
                """
                UPDATE storage_api.resumable_uploads SET \(sql: kind.column) = \(sql: kind.column) + 1
                WHERE id = \(lease.uploadID) AND lease_epoch = \(lease.epoch)
                RETURNING \(sql: kind.column) - 1
                """)
            guard let row = rows.first else { throw ResumableLeaseLost() }
            return try row.decode(Int.self)
        }
    }

    /// Records durable progress: the received count, the (possibly just declared) length and
    /// the pieces holding the bytes. Refused once the lease is lost.
    public func commitResumableProgress(
        _ lease: ResumableLease, received: Int64, uploadLength: Int64?, pieces: String, logger: Logger
    ) async throws {
        try await internalTransaction(logger: logger) { transaction in
            try await transaction.commitResumableProgress(lease, received: received, uploadLength: uploadLength, pieces: pieces)
        }
    }

    /// Removes the upload's row under the lease (termination, expiry, or a failed completion).
    public func deleteResumableUpload(_ lease: ResumableLease, logger: Logger) async throws {
        try await internalTransaction(logger: logger) { transaction in
            let rows = try await transaction.query(
                "DELETE FROM storage_api.resumable_uploads WHERE id = \(lease.uploadID) AND lease_epoch = \(lease.epoch) RETURNING id")
            guard !rows.isEmpty else { throw ResumableLeaseLost() }
        }
    }

    /// Uploads the background sweeper should look at: unfinished ones past their expiry,
    /// finished ones whose row has served its time, and ones holding every byte whose object is
    /// not written yet (their writer went away). Uploads whose lease is held, or lapsed less
    /// than `leaseIdleFor` ago, are skipped.
    public func resumableUploadsNeedingAttention(limit: Int, leaseIdleFor: Duration, logger: Logger) async throws -> [ResumableUploadID] {
        let milliseconds = Self.milliseconds(leaseIdleFor)
        return try await internalTransaction(logger: logger) { transaction in
            let rows = try await transaction.query(
                """
                SELECT id FROM storage_api.resumable_uploads
                WHERE (lease_expires_at IS NULL
                       OR lease_expires_at <= now() - make_interval(secs => \(milliseconds)::bigint / 1000.0))
                  AND (expires_at <= now() OR (completed_at IS NULL AND received = upload_length))
                ORDER BY expires_at
                LIMIT \(limit)
                """)
            return try rows.map { row in try ResumableUploadID(encoded: Substring(try row.decode(String.self))) }
        }
    }

    static func decodeResumable(_ rows: [PostgresRow]) throws -> ResumableUploadRow? {
        guard let row = rows.first else { return nil }
        let (id, length, limit, received, contentType, cacheControl, userMetadata, upsert, owner) = try row.decode(
            (String, Int64?, Int64, Int64, String, String, JSONValue?, Bool, String?).self)
        let cells = row.makeRandomAccess()
        let pieces = try cells[9].decode(String.self)
        let epoch = try cells[10].decode(Int64.self)
        let held = try cells[11].decode(Bool.self)
        let createdAt = try cells[12].decode(Date.self)
        let expiresAt = try cells[13].decode(Date.self)
        let completedAt = try cells[14].decode(Date?.self)
        let now = try cells[15].decode(Date.self)
        let creatorSub = try cells[16].decode(String?.self)
        let creatorRole = try cells[17].decode(String?.self)
        let createdSigned = try cells[18].decode(Bool.self)
        // Uploads recorded before creators were: their owner is taken as the creator.
        let creator: ResumableCreator = createdSigned
            ? .signedToken : .caller(sub: creatorSub ?? (creatorRole == nil ? owner : nil), role: creatorRole ?? "authenticated")
        return ResumableUploadRow(
            id: try ResumableUploadID(encoded: Substring(id)), uploadLength: length, sizeLimit: limit, received: received,
            contentType: contentType, cacheControl: cacheControl, userMetadata: userMetadata, upsert: upsert,
            ownerSub: owner, creator: creator, pieces: pieces, leaseEpoch: epoch, leaseHeld: held, createdAt: createdAt,
            expiresAt: expiresAt, completedAt: completedAt, databaseNow: now)
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}

extension Transaction {
    /// `commitResumableProgress` inside a larger transaction (the completing one).
    public func commitResumableProgress(
        _ lease: ResumableLease, received: Int64, uploadLength: Int64?, pieces: String
    ) async throws {
        let rows = try await query(
            """
            UPDATE storage_api.resumable_uploads
            SET received = \(received), upload_length = \(uploadLength), pieces = \(pieces)::jsonb
            WHERE id = \(lease.uploadID) AND lease_epoch = \(lease.epoch)
            RETURNING id
            """)
        guard !rows.isEmpty else { throw ResumableLeaseLost() }
    }

    /// Marks the upload finished in the transaction that writes its object row, under the lease.
    public func markResumableCompleted(_ lease: ResumableLease) async throws {
        let rows = try await query(
            """
            UPDATE storage_api.resumable_uploads SET completed_at = now(), pieces = '{}'::jsonb
            WHERE id = \(lease.uploadID) AND lease_epoch = \(lease.epoch)
            RETURNING id
            """)
        guard !rows.isEmpty else { throw ResumableLeaseLost() }
    }
}
