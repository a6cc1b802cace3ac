import Foundation
import StorageCore
import TestSupport
import Testing

@testable import Database

/// The outbox (`storage_api.events`) and its claims, against a real Postgres.
@Suite(.enabled(if: ScratchDatabase.isAvailable), .serialized)
struct EventOutboxTests {
    static let logger = ScratchDatabase.logger
    static let anon = DatabaseSession(role: "anon", jwt: "", sub: "", claims: #"{"role":"anon"}"#, logger: logger)
    static let source = EventSource(tenantID: "t", host: "", region: "r")

    static func event(_ name: String?, bucket: String = "b") -> StorageEvent {
        StorageEvent.make(
            name == nil ? .bucketCreated : .objectCreatedPost, bucketID: bucket, name: name, payload: [:], source: source,
            requestID: nil)
    }

    static func record(_ database: StorageDatabase, _ events: [StorageEvent]) async throws {
        try await database.internalTransaction(logger: logger) { try await $0.recordEvents(events) }
    }

    @Test func writtenUnderARequestRoleItKeepsThatRoleAndARollbackWritesNothing() async throws {
        try await ScratchDatabase.withDatabase { database, _ async throws in
            let role = try await database.transaction(Self.anon) { transaction async throws in
                try await transaction.recordEvents([Self.event("a"), Self.event(nil)])
                return try await transaction.query("SELECT current_user::text").first?.decode(String.self)
            }
            #expect(role == "anon")
            struct Refused: Error {}
            await #expect(throws: Refused.self) {
                try await database.transaction(Self.anon) { transaction async throws in
                    try await transaction.recordEvents([Self.event("rolled-back")])
                    throw Refused()
                }
            }
            let listed = try await database.listEvents(status: nil, after: nil, limit: 10, logger: Self.logger)
            #expect(listed.map(\.name) == ["a", nil])
            #expect(listed.map(\.type) == ["ObjectCreated:Post", "BucketCreated"])
            #expect(listed.allSatisfy { $0.status == "pending" && $0.attempts == 0 })
        }
    }

    @Test func onlyTheOldestPendingEventOfAKeyIsClaimedAndOnlyOnce() async throws {
        try await ScratchDatabase.withDatabase { database, _ async throws in
            let first = Self.event("k"), second = Self.event("k"), other = Self.event("other")
            try await Self.record(database, [first, second, other])
            let claimed = try await database.claimEvents(limit: 10, lease: .seconds(60), logger: Self.logger)
            #expect(Set(claimed.map(\.id)) == [first.id, other.id])
            #expect(claimed.allSatisfy { $0.attempts == 1 })
            // While the claims live nobody else gets these keys, not even the next event of "k".
            #expect(try await database.claimEvents(limit: 10, lease: .seconds(60), logger: Self.logger).isEmpty)
            let marked = try await database.markEventsDelivered(claimed, logger: Self.logger)
            #expect(marked == [first.id, other.id])
            let next = try await database.claimEvents(limit: 10, lease: .seconds(60), logger: Self.logger)
            #expect(next.map(\.id) == [second.id])
            // A settlement with a claim that is not the event's own changes nothing.
            var stale = next[0]
            stale.claimToken = UUID()
            #expect(try await database.markEventsDelivered([stale], logger: Self.logger).isEmpty)
            #expect(try await database.markEventAttemptFailed(stale, retryAfter: nil, error: "x", logger: Self.logger) == false)
        }
    }

    @Test func aBacklogIsClaimedInCommitOrderOneHeadPerKeyAPageAtATime() async throws {
        try await ScratchDatabase.withDatabase { database, _ async throws in
            // Five rounds over ten keys: every pass of four takes the four oldest heads.
            let events = (0..<50).map { Self.event("key-\($0 % 10)") }
            try await Self.record(database, events)
            let position = Dictionary(uniqueKeysWithValues: events.enumerated().map { ($1.id, $0) })
            var delivered: [UUID] = []
            while true {
                let batch = try await database.claimEvents(limit: 4, lease: .seconds(60), logger: Self.logger)
                if batch.isEmpty { break }
                #expect(batch.count <= 4)
                try await database.markEventsDelivered(batch, logger: Self.logger)
                delivered += batch.map(\.id).sorted { position[$0]! < position[$1]! }
            }
            #expect(delivered == events.map(\.id))
            // A key whose head waits out a back-off holds its later events; other keys go on.
            let held = Self.event("held"), after = Self.event("held"), free = Self.event("free")
            try await Self.record(database, [held, after, free])
            let first = try await database.claimEvents(limit: 10, lease: .seconds(60), logger: Self.logger)
            #expect(Set(first.map(\.id)) == [held.id, free.id])
            let heldClaim = try #require(first.first { $0.id == held.id })
            #expect(try await database.markEventAttemptFailed(heldClaim, retryAfter: .seconds(60), error: "x", logger: Self.logger))
            try await database.markEventsDelivered(first.filter { $0.id == free.id }, logger: Self.logger)
            #expect(try await database.claimEvents(limit: 10, lease: .seconds(60), logger: Self.logger).isEmpty)
        }
    }

    @Test func concurrentClaimersNeverShareAnEvent() async throws {
        try await ScratchDatabase.withDatabase { database, _ async throws in
            let events = (0..<200).map { Self.event("key-\($0)") }
            try await Self.record(database, events)
            let claims = try await withThrowingTaskGroup(of: [UUID].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var mine: [UUID] = []
                        while true {
                            let batch = try await database.claimEvents(limit: 7, lease: .seconds(60), logger: Self.logger)
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.id)
                        }
                    }
                }
                return try await group.reduce(into: [[UUID]]()) { $0.append($1) }
            }
            let all = claims.flatMap { $0 }
            #expect(all.count == 200)
            #expect(Set(all) == Set(events.map(\.id)))
        }
    }

    @Test func failedAttemptsWaitTheirBackoffThenFailAndARetryRequeues() async throws {
        try await ScratchDatabase.withDatabase { database, _ async throws in
            let event = Self.event("x")
            try await Self.record(database, [event])
            let first = try await database.claimEvents(limit: 1, lease: .seconds(60), logger: Self.logger)[0]
            #expect(try await database.markEventAttemptFailed(first, retryAfter: .seconds(600), error: "HTTP 500", logger: Self.logger))
            #expect(try await database.claimEvents(limit: 1, lease: .seconds(60), logger: Self.logger).isEmpty)
            try await database.statement(
                "UPDATE storage_api.events SET next_attempt_at = now() WHERE id = \(event.id)", logger: Self.logger)
            let second = try await database.claimEvents(limit: 1, lease: .seconds(60), logger: Self.logger)[0]
            #expect(second.attempts == 2)
            #expect(try await database.retryEvent(event.id, logger: Self.logger) == false)
            #expect(try await database.markEventAttemptFailed(second, retryAfter: nil, error: "HTTP 503", logger: Self.logger))
            let failed = try await database.listEvents(status: .failed, after: nil, limit: 10, logger: Self.logger)
            #expect(failed.map(\.id) == [event.id] && failed[0].lastError == "HTTP 503" && failed[0].attempts == 2)
            #expect(try await database.eventBacklog(logger: Self.logger) == (pending: 0, failed: 1))
            #expect(try await database.retryEvent(event.id, logger: Self.logger) == true)
            #expect(try await database.retryEvent(UUID(), logger: Self.logger) == nil)
            let again = try await database.claimEvents(limit: 1, lease: .seconds(60), logger: Self.logger)
            #expect(again.map(\.id) == [event.id] && again[0].attempts == 1)
        }
    }

    @Test func retentionPrunesOnlyDeliveredEventsOlderThanIt() async throws {
        try await ScratchDatabase.withDatabase { database, _ async throws in
            let old = Self.event("old"), recent = Self.event("recent"), pending = Self.event("pending")
            try await Self.record(database, [old, recent])
            let claimed = try await database.claimEvents(limit: 10, lease: .seconds(60), logger: Self.logger)
            try await database.markEventsDelivered(claimed, logger: Self.logger)
            try await Self.record(database, [pending])
            try await database.statement(
                "UPDATE storage_api.events SET delivered_at = now() - interval '4 days' WHERE id = \(old.id)", logger: Self.logger)
            #expect(try await database.pruneDeliveredEvents(olderThan: .seconds(72 * 3600), logger: Self.logger) == 1)
            let left = try await database.listEvents(status: nil, after: nil, limit: 10, logger: Self.logger)
            #expect(left.map(\.name) == ["recent", "pending"])
            let after = try await database.listEvents(status: nil, after: recent.id, limit: 10, logger: Self.logger)
            #expect(after.map(\.name) == ["pending"])
            #expect(try await database.listEvents(status: .delivered, after: nil, limit: 10, logger: Self.logger).map(\.name) == ["recent"])
        }
    }
}
