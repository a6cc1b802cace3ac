public import Foundation
public import Logging
import PostgresNIO
public import StorageCore

/// An event claimed for delivery: what the deliverer sends, and the claim that fences it.
public struct ClaimedEvent: Sendable {
    public var id: UUID
    public var type: String
    /// The `event` member of the body, as stored.
    public var document: String
    /// Attempts including this one.
    public var attempts: Int
    public var createdAt: Date
    /// The claim: only its holder may settle the event.
    public var claimToken: UUID
}

/// The channel a committed event rings, so deliverers wake at once instead of at their next poll.
public let eventsChannel = "storage_api_events"

extension Transaction {
    /// Writes `events` to the outbox in this transaction and rings the deliverers when it commits
    /// (NOTIFY is sent on COMMIT only). Works under any role the transaction has taken on, and
    /// leaves it in that role. Call it after the change's own statements: they take the key's lock,
    /// which keeps events of one key in commit order.
    public func recordEvents(_ events: [StorageEvent]) async throws {
        guard !events.isEmpty else { return }
        // jsonb[] travels as text[]: each document serialized here, cast by Postgres.
        let documents = try events.map { String(decoding: try JSONEncoder().encode($0.document), as: UTF8.self) }
        // A request role steps back in within the insert's own statement (privileges are checked
        // before it runs); the service role and the login role insert at once, in one round trip.
        let restore = try await stepOutOfRequestRole() ?? role.name ?? "none"
        try await query(
            """
            WITH written AS (
              INSERT INTO storage_api.events (id, type, bucket_id, name, order_key, event)
              SELECT id, type, bucket_id, nullif(name, ''), order_key, event
                FROM unnest(\(events.map(\.id))::uuid[], \(events.map(\.type.rawValue))::text[],
                            \(events.map(\.bucketID))::text[], \(events.map { $0.name ?? "" })::text[],
                            \(events.map(\.orderKey))::text[], \(documents)::text[]::jsonb[])
                     WITH ORDINALITY AS given(id, type, bucket_id, name, order_key, event, position)
               ORDER BY position
              RETURNING 1
            )
            SELECT set_config('role', \(restore), true), pg_notify(\(eventsChannel), '')
              FROM (SELECT count(*) FROM written) AS inserted
            """)
    }
}

extension StorageDatabase {
    /// Claims up to `limit` events that are due, for `lease`: per key only the oldest pending
    /// event, and only while nobody else's claim on it is live, so events of one key go out one
    /// at a time and in order, and no two replicas send the same event.
    public func claimEvents(limit: Int, lease: Duration, logger: Logger) async throws -> [ClaimedEvent] {
        let token = UUID()
        // Pending events in commit order (events_pending_seq_idx), each kept only when it is its
        // key's oldest pending one: a probe of events_pending_idx per candidate, written as a
        // scalar subquery so the planner cannot turn it into a join over every pending event.
        // The walk stops at the limit, so a pass costs the same behind any backlog.
        // Under READ COMMITTED a replica that loses the race for a row re-checks the claim
        // condition on the winner's version of it, and skips it.
        let rows = try await statement(
            """
            UPDATE storage_api.events AS e
               SET attempts = e.attempts + 1, claim_token = \(token),
                   claimed_until = now() + make_interval(secs => \(Self.milliseconds(lease))::bigint / 1000.0)
              FROM (SELECT head.id FROM storage_api.events AS head
                     WHERE head.status = 'pending' AND head.next_attempt_at <= now()
                       AND (head.claimed_until IS NULL OR head.claimed_until < now())
                       AND head.seq = (SELECT min(earlier.seq) FROM storage_api.events AS earlier
                                        WHERE earlier.status = 'pending' AND earlier.order_key = head.order_key)
                     ORDER BY head.seq LIMIT \(limit)) AS due
             WHERE e.id = due.id AND e.status = 'pending' AND (e.claimed_until IS NULL OR e.claimed_until < now())
            RETURNING e.id, e.type, e.event::text, e.attempts, e.created_at
            """, logger: logger)
        return try rows.map { row in
            let (id, type, document, attempts, createdAt) = try row.decode((UUID, String, String, Int32, Date).self)
            return ClaimedEvent(
                id: id, type: type, document: document, attempts: Int(attempts), createdAt: createdAt, claimToken: token)
        }
    }

    /// Marks claimed events delivered, in one statement. Returns the ids it marked: an event
    /// whose claim was no longer its deliverer's (it ran out and another took it) is not among them.
    @discardableResult
    public func markEventsDelivered(_ events: [ClaimedEvent], logger: Logger) async throws -> Set<UUID> {
        guard !events.isEmpty else { return [] }
        let rows = try await statement(
            """
            UPDATE storage_api.events AS e
               SET status = 'delivered', delivered_at = now(), claim_token = NULL, claimed_until = NULL, last_error = NULL
              FROM unnest(\(events.map(\.id))::uuid[], \(events.map(\.claimToken))::uuid[]) AS given(id, token)
             WHERE e.id = given.id AND e.claim_token = given.token AND e.status = 'pending'
            RETURNING e.id
            """, logger: logger)
        return Set(try rows.map { try $0.decode(UUID.self) })
    }

    /// Settles a failed attempt: due again after `retryAfter`, or `failed` when it is nil.
    @discardableResult
    public func markEventAttemptFailed(
        _ event: ClaimedEvent, retryAfter: Duration?, error: String, logger: Logger
    ) async throws -> Bool {
        let status = retryAfter == nil ? EventStatus.failed : .pending
        return try await !statement(
            """
            UPDATE storage_api.events
               SET status = \(status.rawValue), last_error = \(String(error.prefix(1000))),
                   next_attempt_at = now() + make_interval(secs => \(Self.milliseconds(retryAfter ?? .zero))::bigint / 1000.0),
                   claim_token = NULL, claimed_until = NULL
             WHERE id = \(event.id) AND claim_token = \(event.claimToken) AND status = 'pending'
            RETURNING 1
            """, logger: logger).isEmpty
    }

    /// Events oldest first, optionally only one status and only after the event `after`.
    public func listEvents(status: EventStatus?, after: UUID?, limit: Int, logger: Logger) async throws -> [EventRecord] {
        let rows = try await statement(
            """
            SELECT id, type, bucket_id, name, status, attempts, last_error, created_at, delivered_at
              FROM storage_api.events
             WHERE (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
               AND (\(after)::uuid IS NULL OR seq > (SELECT seq FROM storage_api.events WHERE id = \(after)))
             ORDER BY seq LIMIT \(limit)
            """, logger: logger)
        return try rows.map { row in
            let (id, type, bucketID, name, status, attempts, lastError, createdAt, deliveredAt) = try row.decode(
                (UUID, String, String, String?, String, Int32, String?, Date, Date?).self)
            return EventRecord(
                id: id, type: type, bucketID: bucketID, name: name, status: status, attempts: Int(attempts),
                lastError: lastError, createdAt: createdAt, deliveredAt: deliveredAt)
        }
    }

    /// Puts a failed event back in the queue with a fresh count of attempts. Nil when there is no
    /// such event; false when it is not failed.
    public func retryEvent(_ id: UUID, logger: Logger) async throws -> Bool? {
        let rows = try await statement(
            """
            WITH found AS (SELECT id, status FROM storage_api.events WHERE id = \(id) FOR UPDATE),
                 retried AS (
                   UPDATE storage_api.events AS e
                      SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL
                     FROM found WHERE e.id = found.id AND found.status = 'failed'
                   RETURNING e.id)
            SELECT (SELECT count(*) FROM retried) > 0 FROM found
            """, logger: logger)
        guard let row = rows.first else { return nil }
        let retried = try row.decode(Bool.self)
        if retried { try await statement("SELECT pg_notify(\(eventsChannel), '')", logger: logger) }
        return retried
    }

    /// Deletes delivered events older than `age`; returns how many.
    @discardableResult
    public func pruneDeliveredEvents(olderThan age: Duration, logger: Logger) async throws -> Int {
        try await statement(
            """
            DELETE FROM storage_api.events
             WHERE status = 'delivered'
               AND delivered_at < now() - make_interval(secs => \(Self.milliseconds(age))::bigint / 1000.0)
            RETURNING 1
            """, logger: logger).count
    }

    /// How many events wait (pending) and have failed, for the metrics.
    public func eventBacklog(logger: Logger) async throws -> (pending: Int, failed: Int) {
        let rows = try await statement(
            "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed') FROM storage_api.events",
            logger: logger)
        guard let row = rows.first else { return (0, 0) }
        let (pending, failed) = try row.decode((Int64, Int64).self)
        return (Int(pending), Int(failed))
    }
}

extension StorageDatabase {
    /// Calls `onNotification` for every notification on `channel` until cancelled or the
    /// connection fails. Holds one direct connection meanwhile: LISTEN needs a session, which a
    /// transaction-pooling proxy would not keep (`pg_notify` goes through one fine).
    public func listen(
        on channel: String, logger: Logger, _ onNotification: @escaping @Sendable () -> Void
    ) async throws {
        try await withSessionConnection { connection in
            try await connection.listen(on: channel) { notifications in
                logger.debug("listening for notifications", metadata: ["channel": "\(channel)"])
                for try await _ in notifications { onNotification() }
            }
        }
    }

    /// `listen`, again a second after each failure, until the task is cancelled: the callers
    /// (the webhook deliverer, the processing pipeline) poll meanwhile, so a lost connection
    /// only slows them down.
    public func keepListening(on channel: String, logger: Logger, _ onNotification: @escaping @Sendable () -> Void) async {
        while !Task.isCancelled {
            do {
                try await listen(on: channel, logger: logger, onNotification)
            } catch {
                if Task.isCancelled { return }
                logger.warning("notifications stopped; polling until they are back", metadata: [
                    "channel": "\(channel)", "error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
