import Foundation
import StorageCore
import TestSupport
import Testing

@testable import Database

/// The lease and fencing rules of resumable uploads, against a real Postgres.
@Suite(.enabled(if: ScratchDatabase.isAvailable), .serialized)
struct ResumableLeaseTests {
    static func newUpload(_ database: StorageDatabase, lifetime: Duration = .seconds(60)) async throws -> ResumableUploadRow {
        let id = ResumableUploadID(bucketID: "b", name: "dir/file.bin", version: UUID().uuidString.lowercased())
        return try await database.insertResumableUpload(
            NewResumableUpload(
                id: id, uploadLength: 100, sizeLimit: 1000, contentType: "x/y", cacheControl: "no-cache",
                userMetadata: .object(["k": .string("v")]), upsert: false, ownerSub: nil,
                creator: .caller(sub: "alice", role: "authenticated"), pieces: "{}"),
            lifetime: lifetime, logger: ScratchDatabase.logger)
    }

    @Test func oneHolderAtATimeAndStaleHoldersAreFencedOut() async throws {
        try await ScratchDatabase.withDatabase { database, _ in
            let row = try await Self.newUpload(database)
            #expect(row.received == 0 && row.leaseEpoch == 0 && !row.leaseHeld && row.expiresAt > row.databaseNow)
            #expect(row.userMetadata == .object(["k": .string("v")]))
            #expect(row.creator == .caller(sub: "alice", role: "authenticated"))

            let first = try #require(try await database.acquireResumableLease(row.id, duration: .seconds(30), logger: ScratchDatabase.logger))
            let firstLease = try #require(first.lease)
            #expect(firstLease.epoch == 1 && first.row.leaseHeld)
            // Taken: the second request sees the row but gets no lease.
            let second = try #require(try await database.acquireResumableLease(row.id, duration: .seconds(30), logger: ScratchDatabase.logger))
            #expect(second.lease == nil && second.row.leaseEpoch == 1)

            // Numbers are handed out once each, per kind.
            #expect(try await database.reserveResumableNumber(.piece, lease: firstLease, logger: ScratchDatabase.logger) == 1)
            #expect(try await database.reserveResumableNumber(.piece, lease: firstLease, logger: ScratchDatabase.logger) == 2)
            #expect(try await database.reserveResumableNumber(.part, lease: firstLease, logger: ScratchDatabase.logger) == 1)
            try await database.commitResumableProgress(firstLease, received: 40, uploadLength: 100, pieces: #"{"pieces":[]}"#, logger: ScratchDatabase.logger)

            // Asked to release, the holder learns it at its next renewal.
            #expect(try await database.renewResumableLease(firstLease, duration: .seconds(30), logger: ScratchDatabase.logger) == false)
            try await database.requestResumableRelease(row.id, logger: ScratchDatabase.logger)
            #expect(try await database.renewResumableLease(firstLease, duration: .seconds(30), logger: ScratchDatabase.logger) == true)
            try await database.releaseResumableLease(firstLease, logger: ScratchDatabase.logger)

            let taken = try #require(try await database.acquireResumableLease(row.id, duration: .seconds(30), logger: ScratchDatabase.logger))
            let newLease = try #require(taken.lease)
            #expect(newLease.epoch == 2 && taken.row.received == 40)
            // The old holder can no longer do anything.
            await #expect(throws: ResumableLeaseLost.self) {
                try await database.commitResumableProgress(firstLease, received: 100, uploadLength: 100, pieces: "{}", logger: ScratchDatabase.logger)
            }
            await #expect(throws: ResumableLeaseLost.self) { try await database.reserveResumableNumber(.piece, lease: firstLease, logger: ScratchDatabase.logger) }
            await #expect(throws: ResumableLeaseLost.self) { try await database.renewResumableLease(firstLease, duration: .seconds(30), logger: ScratchDatabase.logger) }
            await #expect(throws: ResumableLeaseLost.self) { try await database.deleteResumableUpload(firstLease, logger: ScratchDatabase.logger) }
            try await database.releaseResumableLease(firstLease, logger: ScratchDatabase.logger)  // a no-op: it does not free the new holder's lease
            #expect(try await database.acquireResumableLease(row.id, duration: .seconds(30), logger: ScratchDatabase.logger)?.lease == nil)
            // The new holder continues numbering where the old one stopped.
            #expect(try await database.reserveResumableNumber(.piece, lease: newLease, logger: ScratchDatabase.logger) == 3)
            try await database.deleteResumableUpload(newLease, logger: ScratchDatabase.logger)
            #expect(try await database.resumableUpload(row.id, logger: ScratchDatabase.logger) == nil)
            #expect(try await database.acquireResumableLease(row.id, duration: .seconds(30), logger: ScratchDatabase.logger) == nil)
        }
    }

    @Test func anExpiredLeaseIsTakenOverAndItsHolderFenced() async throws {
        try await ScratchDatabase.withDatabase { database, _ in
            let row = try await Self.newUpload(database)
            let stale = try #require(try await database.acquireResumableLease(row.id, duration: .milliseconds(200), logger: ScratchDatabase.logger)?.lease)
            try await Task.sleep(for: .milliseconds(400))
            // Its lease ran out (a paused or partitioned process): another request takes over.
            let fresh = try #require(try await database.acquireResumableLease(row.id, duration: .seconds(30), logger: ScratchDatabase.logger)?.lease)
            #expect(fresh.epoch == stale.epoch + 1)
            await #expect(throws: ResumableLeaseLost.self) {
                try await database.commitResumableProgress(stale, received: 10, uploadLength: 100, pieces: "{}", logger: ScratchDatabase.logger)
            }
            try await database.commitResumableProgress(fresh, received: 10, uploadLength: 100, pieces: "{}", logger: ScratchDatabase.logger)
            // A holder whose lease ran out but that nobody took over carries on (its renewal came
            // late), and its renewal keeps others out again.
            let lapsed = try #require(try await Self.lapsedLease(database))
            try await database.commitResumableProgress(lapsed, received: 10, uploadLength: 100, pieces: "{}", logger: ScratchDatabase.logger)
            #expect(try await database.renewResumableLease(lapsed, duration: .seconds(30), logger: ScratchDatabase.logger) == false)
            let lapsedRow = try #require(try await database.resumableUpload(ResumableUploadID(encoded: Substring(lapsed.uploadID)), logger: ScratchDatabase.logger))
            #expect(try await database.acquireResumableLease(lapsedRow.id, duration: .seconds(30), logger: ScratchDatabase.logger)?.lease == nil)
        }
    }

    static func lapsedLease(_ database: StorageDatabase) async throws -> ResumableLease? {
        let row = try await newUpload(database)
        let lease = try await database.acquireResumableLease(row.id, duration: .milliseconds(100), logger: ScratchDatabase.logger)?.lease
        try await Task.sleep(for: .milliseconds(250))
        return lease
    }

    @Test func completionIsPartOfTheObjectTransaction() async throws {
        try await ScratchDatabase.withDatabase { database, _ in
            let row = try await Self.newUpload(database)
            let lease = try #require(try await database.acquireResumableLease(row.id, duration: .seconds(30), logger: ScratchDatabase.logger)?.lease)
            try await database.transaction(.service) { transaction in
                try await transaction.commitResumableProgress(lease, received: 100, uploadLength: 100, pieces: "{}")
                try await transaction.markResumableCompleted(lease)
            }
            let done = try #require(try await database.resumableUpload(row.id, logger: ScratchDatabase.logger))
            #expect(done.completedAt != nil && done.received == 100 && done.pieces == "{}")
            // A request role cannot read the table at all.
            await #expect(throws: (any Error).self) {
                try await database.transaction(.user("u")) { transaction in
                    try await transaction.query("SELECT count(*) FROM storage_api.resumable_uploads")
                }
            }
        }
    }

    @Test func theSweeperSeesExpiredAndStrandedUploadsOnly() async throws {
        try await ScratchDatabase.withDatabase { database, _ in
            let expired = try await Self.newUpload(database, lifetime: .milliseconds(1))
            let fresh = try await Self.newUpload(database)
            let stranded = try await Self.newUpload(database)
            let lease = try #require(try await database.acquireResumableLease(stranded.id, duration: .seconds(30), logger: ScratchDatabase.logger)?.lease)
            try await database.commitResumableProgress(lease, received: 100, uploadLength: 100, pieces: "{}", logger: ScratchDatabase.logger)
            // Leased: not yet (its holder may still finish it).
            try await Task.sleep(for: .milliseconds(20))
            #expect(try await database.resumableUploadsNeedingAttention(limit: 10, leaseIdleFor: .zero, logger: ScratchDatabase.logger) == [expired.id])
            // Lapsed, but not for long enough: its holder may only be running late.
            try await database.releaseResumableLease(lease, logger: ScratchDatabase.logger)
            let lapsing = try #require(try await database.acquireResumableLease(stranded.id, duration: .milliseconds(50), logger: ScratchDatabase.logger)?.lease)
            #expect(lapsing.epoch == lease.epoch + 1)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await database.resumableUploadsNeedingAttention(limit: 10, leaseIdleFor: .seconds(30), logger: ScratchDatabase.logger) == [expired.id])
            #expect(Set(try await database.resumableUploadsNeedingAttention(limit: 10, leaseIdleFor: .milliseconds(100), logger: ScratchDatabase.logger))
                == [expired.id, stranded.id])
            try await database.releaseResumableLease(lapsing, logger: ScratchDatabase.logger)
            let attention = try await database.resumableUploadsNeedingAttention(limit: 10, leaseIdleFor: .seconds(30), logger: ScratchDatabase.logger)
            #expect(Set(attention) == [expired.id, stranded.id] && !attention.contains(fresh.id))
        }
    }
}
