public import Foundation
public import Logging
import PostgresNIO
public import StorageCore

/// The channel a new or re-queued processing job rings, so pipelines start it at once.
public let processingChannel = "storage_api_processing"

/// A pending version and its processing state (`storage_api.processing_jobs`).
public struct ProcessingJob: Sendable {
    public enum State: String, Sendable { case pending, ready, rejected }

    public var id: UUID
    /// The row that is written when the version is ready.
    public var write: ObjectWrite
    public var upsert: Bool
    /// How the bytes came (`{"kind", "uploadType", "route"}`), for the `ObjectCreated` event.
    public var origin: JSONValue
    public var requestID: String?
    public var state: State
    /// `[{"name", "state", "detail"}]`.
    public var steps: JSONValue
    /// Attempts of the current step.
    public var attempts: Int
    public var sha256: String?
    public var reason: String?
    public var quarantined: Bool
    public var createdAt: Date
    /// The claim the job was read with, when it was claimed.
    public var claimToken: UUID?

    public init(
        id: UUID, write: ObjectWrite, upsert: Bool, origin: JSONValue, requestID: String?, steps: JSONValue,
        state: State = .pending, attempts: Int = 0, sha256: String? = nil, reason: String? = nil, quarantined: Bool = false,
        createdAt: Date = Date(), claimToken: UUID? = nil
    ) {
        self.id = id
        self.write = write
        self.upsert = upsert
        self.origin = origin
        self.requestID = requestID
        self.steps = steps
        self.state = state
        self.attempts = attempts
        self.sha256 = sha256
        self.reason = reason
        self.quarantined = quarantined
        self.createdAt = createdAt
        self.claimToken = claimToken
    }
}

/// A target's copy of a ready version (`storage_api.processing_deliveries`).
public struct ProcessingDelivery: Sendable, Equatable {
    public enum State: String, Sendable { case pending, delivered, failed }
    public var target: String
    public var state: State
    public var attempts: Int
    public var lastError: String?
}

/// The columns `processingJob()` decodes, bare and for the claim's `UPDATE … AS j`.
enum ProcessingColumns: String, SQLFragment {
    case job = """
        id, bucket_id, name, version, owner_id, upsert, metadata, user_metadata, origin, request_id, state, steps, attempts, \
        sha256, reason, quarantined, created_at, claim_token
        """
    case claimedJob = """
        j.id, j.bucket_id, j.name, j.version, j.owner_id, j.upsert, j.metadata, j.user_metadata, j.origin, j.request_id, \
        j.state, j.steps, j.attempts, j.sha256, j.reason, j.quarantined, j.created_at, j.claim_token
        """
}

extension PostgresRow {
    fileprivate func processingJob() throws -> ProcessingJob {
        let (id, bucketID, name, version, ownerID, upsert, metadata, userMetadata, origin, requestID, state, steps, attempts) =
            try decode((UUID, String, String, String, String?, Bool, JSONValue, JSONValue?, JSONValue, String?, String, JSONValue, Int32).self)
        let columns = makeRandomAccess()
        return ProcessingJob(
            id: id,
            write: ObjectWrite(
                bucketID: bucketID, name: name, owner: Owner(sub: ownerID), version: version, metadata: metadata,
                userMetadata: userMetadata),
            upsert: upsert, origin: origin, requestID: requestID, steps: steps,
            state: ProcessingJob.State(rawValue: state) ?? .pending, attempts: Int(attempts),
            sha256: try columns[13].decode(String?.self), reason: try columns[14].decode(String?.self),
            quarantined: try columns[15].decode(Bool.self), createdAt: try columns[16].decode(Date.self),
            claimToken: try columns[17].decode(UUID?.self))
    }
}

extension Transaction {
    /// Records a pending version in this transaction and rings the pipelines when it commits.
    /// Works under any role the transaction has taken on, and leaves it in that role.
    public func recordProcessingJob(_ job: ProcessingJob) async throws {
        let restore = try await stepOutOfRequestRole() ?? role.name ?? "none"
        let write = job.write
        try await query(
            """
            WITH recorded AS (
              INSERT INTO storage_api.processing_jobs
                     (id, bucket_id, name, version, owner_id, upsert, metadata, user_metadata, origin, request_id, steps)
              VALUES (\(job.id), \(write.bucketID), \(write.name), \(write.version), \(write.owner.id), \(job.upsert),
                      \(write.metadata), \(write.userMetadata), \(job.origin), \(job.requestID), \(job.steps))
              RETURNING 1
            )
            SELECT set_config('role', \(restore), true), pg_notify(\(processingChannel), \(job.id.uuidString.lowercased()))
              FROM recorded
            """)
    }

    /// Ends a job that holds the claim `token`: ready (its row was written in this transaction)
    /// or rejected. Returns false when the claim was no longer the caller's (nothing changed).
    public func finishProcessingJob(
        _ id: UUID, token: UUID, state: ProcessingJob.State, steps: JSONValue, sha256: String?, reason: String?,
        quarantined: Bool, deliverTo targets: [String]
    ) async throws -> Bool {
        let restore = try await stepOutOfRequestRole() ?? role.name ?? "none"
        let rows = try await query(
            """
            WITH finished AS (
              UPDATE storage_api.processing_jobs
                 SET state = \(state.rawValue), steps = \(steps), sha256 = coalesce(\(sha256), sha256), reason = \(reason),
                     quarantined = \(quarantined), finished_at = now(), claim_token = NULL, claimed_until = NULL, attempts = 0
               WHERE id = \(id) AND claim_token = \(token) AND state = 'pending'
              RETURNING id
            ), targets AS (
              INSERT INTO storage_api.processing_deliveries (job_id, target)
              SELECT finished.id, target FROM finished, unnest(\(targets)::text[]) AS target
              RETURNING 1
            )
            SELECT set_config('role', \(restore), true), pg_notify(\(processingChannel), '')
              FROM finished, (SELECT count(*) FROM targets) AS delivered
            """)
        return !rows.isEmpty
    }
}

/// A target's copy of a ready version, claimed for one attempt.
public struct ClaimedDelivery: Sendable {
    public var jobID: UUID
    public var target: String
    /// Attempts including this one.
    public var attempts: Int
    public var token: UUID
    public var bucketID: String
    public var name: String
    public var version: String
    public var sha256: String?
    public var metadata: JSONValue
    public var requestID: String?
}

extension Transaction {
    /// Settles a claimed delivery: delivered, failed for good, or (with `retryAfter`) due again
    /// later. False when the claim was no longer the caller's.
    public func settleDelivery(
        _ delivery: ClaimedDelivery, state: ProcessingDelivery.State, retryAfter: Duration?, error: String?
    ) async throws -> Bool {
        let restore = try await stepOutOfRequestRole() ?? role.name ?? "none"
        let retry = StorageDatabase.milliseconds(retryAfter ?? .zero)
        return try await !query(
            """
            WITH settled AS (
              UPDATE storage_api.processing_deliveries
                 SET state = \(state.rawValue), last_error = \(error.map { String($0.prefix(1000)) }),
                     delivered_at = CASE WHEN \(state.rawValue) = 'delivered' THEN now() END,
                     next_attempt_at = now() + make_interval(secs => \(retry)::bigint / 1000.0),
                     claim_token = NULL, claimed_until = NULL
               WHERE job_id = \(delivery.jobID) AND target = \(delivery.target) AND claim_token = \(delivery.token)
                 AND state = 'pending'
              RETURNING 1
            )
            SELECT set_config('role', \(restore), true) FROM settled
            """).isEmpty
    }
}

extension StorageDatabase {
    /// Claims up to `limit` due deliveries for `lease`, with what they copy; counts an attempt.
    public func claimProcessingDeliveries(limit: Int, lease: Duration, logger: Logger) async throws -> [ClaimedDelivery] {
        let token = UUID()
        return try await statement(
            """
            UPDATE storage_api.processing_deliveries AS d
               SET attempts = d.attempts + 1, claim_token = \(token),
                   claimed_until = now() + make_interval(secs => \(Self.milliseconds(lease))::bigint / 1000.0)
              FROM (SELECT job_id, target FROM storage_api.processing_deliveries
                     WHERE state = 'pending' AND next_attempt_at <= now()
                       AND (claimed_until IS NULL OR claimed_until < now())
                     ORDER BY next_attempt_at LIMIT \(limit) FOR UPDATE SKIP LOCKED) AS due,
                   storage_api.processing_jobs AS j
             WHERE d.job_id = due.job_id AND d.target = due.target AND j.id = d.job_id
            RETURNING d.job_id, d.target, d.attempts, j.bucket_id, j.name, j.version, j.sha256, j.metadata, j.request_id
            """, logger: logger
        ).map { row in
            let (jobID, target, attempts, bucketID, name, version, sha256, metadata, requestID) =
                try row.decode((UUID, String, Int32, String, String, String, String?, JSONValue, String?).self)
            return ClaimedDelivery(
                jobID: jobID, target: target, attempts: Int(attempts), token: token, bucketID: bucketID, name: name,
                version: version, sha256: sha256, metadata: metadata, requestID: requestID)
        }
    }

    /// Claims one job by id for `lease`, when it is pending, due and nobody else's claim is
    /// live: the replica that took the upload starts it at once.
    public func claimProcessingJob(_ id: UUID, lease: Duration, logger: Logger) async throws -> ProcessingJob? {
        try await claimProcessingJobs(only: id, limit: 1, lease: lease, logger: logger).first
    }

    /// Claims up to `limit` due jobs, oldest first, for `lease`.
    public func claimProcessingJobs(
        only id: UUID? = nil, limit: Int, lease: Duration, logger: Logger
    ) async throws -> [ProcessingJob] {
        let token = UUID()
        // SKIP LOCKED: replicas polling together take different jobs instead of queueing on one.
        return try await statement(
            """
            UPDATE storage_api.processing_jobs AS j
               SET claim_token = \(token),
                   claimed_until = now() + make_interval(secs => \(Self.milliseconds(lease))::bigint / 1000.0)
              FROM (SELECT id FROM storage_api.processing_jobs
                     WHERE state = 'pending' AND next_attempt_at <= now()
                       AND (claimed_until IS NULL OR claimed_until < now())
                       AND (\(id)::uuid IS NULL OR id = \(id)::uuid)
                     ORDER BY next_attempt_at LIMIT \(limit) FOR UPDATE SKIP LOCKED) AS due
             WHERE j.id = due.id
            RETURNING \(sql: ProcessingColumns.claimedJob)
            """, logger: logger).map { try $0.processingJob() }
    }

    /// Stores a job's progress under its claim, and renews the claim for `lease`; with
    /// `retryAfter` the claim is released and the job is due again after it. Returns false
    /// when the claim was no longer the caller's.
    public func saveProcessingProgress(
        _ id: UUID, token: UUID, steps: JSONValue, attempts: Int, sha256: String?, retryAfter: Duration?, lease: Duration,
        logger: Logger
    ) async throws -> Bool {
        let retry = retryAfter.map(Self.milliseconds)
        return try await !statement(
            """
            UPDATE storage_api.processing_jobs
               SET steps = \(steps), attempts = \(attempts), sha256 = coalesce(\(sha256), sha256),
                   next_attempt_at = CASE WHEN \(retry)::bigint IS NULL THEN next_attempt_at
                                          ELSE now() + make_interval(secs => \(retry)::bigint / 1000.0) END,
                   claim_token = CASE WHEN \(retry)::bigint IS NULL THEN claim_token END,
                   claimed_until = CASE WHEN \(retry)::bigint IS NULL
                                        THEN now() + make_interval(secs => \(Self.milliseconds(lease))::bigint / 1000.0) END
             WHERE id = \(id) AND claim_token = \(token) AND state = 'pending'
            RETURNING 1
            """, logger: logger).isEmpty
    }

    /// Extends a claim still held by `token`; false when it is no longer the caller's.
    public func renewProcessingClaim(_ id: UUID, token: UUID, lease: Duration, logger: Logger) async throws -> Bool {
        try await !statement(
            """
            UPDATE storage_api.processing_jobs
               SET claimed_until = now() + make_interval(secs => \(Self.milliseconds(lease))::bigint / 1000.0)
             WHERE id = \(id) AND claim_token = \(token) AND state = 'pending'
            RETURNING 1
            """, logger: logger).isEmpty
    }

    /// One job, as stored (for an upload waiting on its result).
    public func processingJob(_ id: UUID, logger: Logger) async throws -> ProcessingJob? {
        try await statement(
            "SELECT \(sql: ProcessingColumns.job) FROM storage_api.processing_jobs WHERE id = \(id)", logger: logger
        ).first.map { try $0.processingJob() }
    }

    /// The job of one version of a key.
    public func processingJob(bucketID: String, name: String, version: String, logger: Logger) async throws -> ProcessingJob? {
        try await statement(
            """
            SELECT \(sql: ProcessingColumns.job) FROM storage_api.processing_jobs
             WHERE bucket_id = \(bucketID) AND name = \(name) AND version = \(version)
            """, logger: logger
        ).first.map { try $0.processingJob() }
    }

    /// The newest job of a key and its deliveries (`GET /object/status/...`).
    public func latestProcessingJob(
        bucketID: String, name: String, logger: Logger
    ) async throws -> (job: ProcessingJob, deliveries: [ProcessingDelivery])? {
        guard let job = try await statement(
            """
            SELECT \(sql: ProcessingColumns.job) FROM storage_api.processing_jobs
             WHERE bucket_id = \(bucketID) AND name = \(name) ORDER BY created_at DESC LIMIT 1
            """, logger: logger
        ).first.map({ try $0.processingJob() }) else { return nil }
        let deliveries = try await statement(
            """
            SELECT target, state, attempts, last_error FROM storage_api.processing_deliveries
             WHERE job_id = \(job.id) ORDER BY target
            """, logger: logger
        ).map { row in
            let (target, state, attempts, lastError) = try row.decode((String, String, Int32, String?).self)
            return ProcessingDelivery(
                target: target, state: ProcessingDelivery.State(rawValue: state) ?? .pending, attempts: Int(attempts),
                lastError: lastError)
        }
        return (job, deliveries)
    }
}
