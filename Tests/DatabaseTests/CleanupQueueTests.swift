import Foundation
import StorageCore
import TestSupport
import Testing

@testable import Database

/// The durable clean-up queue (`storage_api.backend_cleanups`), against a real Postgres.
@Suite(.enabled(if: ScratchDatabase.isAvailable), .serialized)
struct CleanupQueueTests {
    static let anon = DatabaseSession(role: "anon", jwt: "", sub: "", claims: #"{"role":"anon"}"#, logger: ScratchDatabase.logger)

    @Test func recordsUnderARequestRoleAndKeepsThatRole() async throws {
        try await ScratchDatabase.withDatabase { database, _ async throws in
            let (queued, role) = try await database.transaction(Self.anon) { transaction async throws in
                let queued = try await transaction.enqueueCleanups(
                    [.object("t/b/a/v1"), .prefix("__render/t/b/a/v1"), .failedWrite("t/b/c/v"),
                     .multipart(key: "t/b/d/v", uploadID: "u1")],
                    dueIn: .seconds(60))
                let role = try await transaction.query("SELECT current_user::text").first?.decode(String.self)
                return (queued, role)
            }
            #expect(role == "anon")
            #expect(queued.map(\.cleanup) == [
                .object("t/b/a/v1"), .prefix("__render/t/b/a/v1"), .failedWrite("t/b/c/v"), .multipart(key: "t/b/d/v", uploadID: "u1")])
            let backlog = try await database.cleanupBacklog(logger: ScratchDatabase.logger)
            #expect(backlog.waiting == 4 && backlog.due == 0)
            #expect(try await database.keysWithQueuedCleanups(["t/b/a/v1", "t/b/zzz"], logger: ScratchDatabase.logger) == ["t/b/a/v1"])
        }
    }

    @Test func aRolledBackTransactionRecordsNothing() async throws {
        try await ScratchDatabase.withDatabase { database, _ async throws in
            struct Refused: Error {}
            await #expect(throws: Refused.self) {
                try await database.transaction(Self.anon) { transaction async throws in
                    try await transaction.enqueueCleanups([.object("t/b/a/v1")], dueIn: .zero)
                    throw Refused()
                }
            }
            #expect(try await database.cleanupBacklog(logger: ScratchDatabase.logger).waiting == 0)
        }
    }

    @Test func drainersClaimDueWorkOnceAndRetryWithBackoff() async throws {
        try await ScratchDatabase.withDatabase { database, _ async throws in
            try await database.enqueueCleanups([.object("due/1"), .object("due/2")], dueIn: .zero, logger: ScratchDatabase.logger)
            try await database.enqueueCleanups([.object("later/1")], dueIn: .seconds(600), logger: ScratchDatabase.logger)
            let first = try await database.claimDueCleanups(limit: 10, lease: .seconds(60), logger: ScratchDatabase.logger)
            #expect(Set(first.map(\.cleanup.key)) == ["due/1", "due/2"] && first.allSatisfy { $0.attempts == 1 })
            // Claimed work is not due for anyone else until its claim runs out.
            #expect(try await database.claimDueCleanups(limit: 10, lease: .seconds(60), logger: ScratchDatabase.logger).isEmpty)
            try await database.forgetCleanups([first[0].id], logger: ScratchDatabase.logger)
            try await database.rescheduleCleanup(first[1], after: .zero, error: "backend down", logger: ScratchDatabase.logger)
            let retried = try await database.claimDueCleanups(limit: 10, lease: .seconds(60), logger: ScratchDatabase.logger)
            #expect(retried.map(\.id) == [first[1].id] && retried[0].attempts == 2)
            let errors = try await database.statement("SELECT last_error FROM storage_api.backend_cleanups WHERE id = \(first[1].id)", logger: ScratchDatabase.logger)
            #expect(try errors.first?.decode(String?.self) == "backend down")
            #expect(try await database.cleanupBacklog(logger: ScratchDatabase.logger).waiting == 2)
        }
    }
}
