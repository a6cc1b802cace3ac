import Foundation
import PostgresNIO
import StorageCore
import TestSupport
import Synchronization
import Testing

@testable import Database

extension DatabaseSession {
    static func user(_ sub: String, role: String = "authenticated", operation: StorageOperation? = nil) -> DatabaseSession {
        DatabaseSession(
            role: role, jwt: "token-\(sub)", sub: sub, claims: #"{"role":"\#(role)","sub":"\#(sub)"}"#,
            headers: #"{"x-test":"yes"}"#, method: "POST", path: "/object/b/x?y=1", operation: operation,
            logger: ScratchDatabase.logger)
    }

    static let service = DatabaseSession(role: "service_role", jwt: "", sub: "", claims: #"{"role":"service_role"}"#, logger: ScratchDatabase.logger)
}

extension Transaction {
    /// The first column of the first row as text.
    func scalar(_ sql: String) async throws -> String? {
        try await query(PostgresQuery(unsafeSQL: sql)).first?.decode(String?.self) ?? nil
    }
}

@Suite(.enabled(if: ScratchDatabase.isAvailable), .serialized)
struct MigrationIntegrationTests {
    @Test func migratesAnEmptyDatabaseAndReRunsAsANoOp() async throws {
        try await ScratchDatabase.withDatabase(migrated: false) { database, configuration in
            let runner = try MigrationRunner.bundled(database: database, logger: ScratchDatabase.logger)
            let project = try Migration.projectBundled()
            #expect(try await runner.run().count == 63 + project.count)
            #expect(try await runner.run().isEmpty)
            #expect(try await ScratchDatabase.scalar(configuration, "SELECT count(*)::text FROM storage.migrations") == "64")
            // This project's own tables are recorded apart, where upstream's runner never looks.
            #expect(try await ScratchDatabase.scalar(configuration, "SELECT count(*)::text FROM storage_api.migrations") == String(project.count))
            #expect(try await ScratchDatabase.scalar(configuration, "SELECT to_regclass('storage_api.resumable_uploads')::text") == "storage_api.resumable_uploads")
            #expect(try await ScratchDatabase.scalar(configuration, "SELECT has_table_privilege('authenticated', 'storage_api.resumable_uploads', 'SELECT')::text") == "false")
            #expect(try await ScratchDatabase.scalar(configuration, "SELECT name FROM storage.migrations WHERE id = 0") == "create-migrations-table")
            #expect(try await ScratchDatabase.scalar(configuration, "SELECT hash FROM storage.migrations WHERE id = 0") == "e18db593bcde2aca2a408c4d1100f6abba2195df")
            for table in ["buckets", "objects", "migrations", "s3_multipart_uploads", "s3_multipart_uploads_parts", "buckets_analytics", "buckets_vectors", "vector_indexes"] {
                #expect(try await ScratchDatabase.scalar(configuration, "SELECT to_regclass('storage.\(table)')::text") == "storage.\(table)")
            }
            for function in ["foldername", "filename", "extension", "search", "search_v2", "list_objects_with_delimiter",
                                 "operation", "allow_only_operation", "allow_any_operation", "get_size_by_bucket", "protect_delete"] {
                #expect(try await ScratchDatabase.scalar(configuration, 
                    "SELECT count(*)::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'storage' AND p.proname = '\(function)'") == "1", "\(function)")
            }
            #expect(try await ScratchDatabase.scalar(configuration, "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('anon','authenticated','service_role')") == "anon,authenticated,service_role")
            #expect(try await ScratchDatabase.scalar(configuration, "SELECT rolbypassrls::text FROM pg_roles WHERE rolname = 'service_role'") == "true")
            #expect(try await ScratchDatabase.scalar(configuration, "SELECT count(*)::text FROM pg_indexes WHERE schemaname = 'storage' AND indexname IN ('bucketid_objname','name_prefix_search','idx_objects_bucket_id_name','idx_objects_bucket_id_name_lower','bname')") == "5")
        }
    }

    @Test func concurrentRunnersMigrateOnce() async throws {
        try await ScratchDatabase.withDatabase(migrated: false) { database, configuration in
            let other = StorageDatabase(configuration: configuration, logger: ScratchDatabase.logger)
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask { try await other.run(); return -1 }
                let migrations = try Migration.bundled()
                let applied = try await withThrowingTaskGroup(of: Int.self) { runners in
                    for runnerDatabase in [database, other] {
                        runners.addTask {
                            try await MigrationRunner(database: runnerDatabase, migrations: migrations, logger: ScratchDatabase.logger).run().count
                        }
                    }
                    return try await runners.reduce(into: []) { $0.append($1) }
                }
                #expect(applied.sorted() == [0, 63])
                group.cancelAll()
            }
            #expect(try await ScratchDatabase.scalar(configuration, "SELECT count(*)::text FROM storage.migrations") == "64")
        }
    }
}

@Suite(.enabled(if: ScratchDatabase.isAvailable))
struct SessionIntegrationTests {
    @Test func transactionsCarryTheCallersIdentity() async throws {
        try await ScratchDatabase.withDatabase { database, _ in
            let sub = "8f1d6f7e-1111-4c2a-9b1e-2f3a4b5c6d7e"
            try await database.transaction(.user(sub, operation: .objectUpload)) { transaction async throws in
                #expect(try await transaction.scalar("SELECT current_user::text") == "authenticated")
                #expect(try await transaction.scalar("SELECT auth.uid()::text") == sub)
                #expect(try await transaction.scalar("SELECT auth.role()") == "authenticated")
                #expect(try await transaction.scalar("SELECT auth.jwt() ->> 'sub'") == sub)
                #expect(try await transaction.scalar("SELECT current_setting('request.jwt.claim.sub')") == sub)
                #expect(try await transaction.scalar("SELECT current_setting('request.jwt')") == "token-\(sub)")
                #expect(try await transaction.scalar("SELECT storage.operation()") == "storage.object.upload")
                #expect(try await transaction.scalar("SELECT storage.allow_only_operation('object.upload')::text") == "true")
                #expect(try await transaction.scalar("SELECT storage.allow_only_operation('storage.object.upload')::text") == "true")
                #expect(try await transaction.scalar("SELECT storage.allow_only_operation('object.copy')::text") == "false")
                #expect(try await transaction.scalar("SELECT storage.allow_only_operation('')::text") == "false")
                #expect(try await transaction.scalar("SELECT storage.allow_any_operation(ARRAY['x', 'object.upload'])::text") == "true")
                #expect(try await transaction.scalar("SELECT storage.allow_any_operation(ARRAY[]::text[])::text") == "false")
                #expect(try await transaction.scalar("SELECT current_setting('request.headers')::jsonb ->> 'x-test'") == "yes")
                #expect(try await transaction.scalar("SELECT current_setting('request.method')") == "POST")
                #expect(try await transaction.scalar("SELECT current_setting('request.path')") == "/object/b/x?y=1")
                #expect(try await transaction.scalar("SELECT current_setting('storage.allow_delete_query')") == "true")
            }
            // Pooled connections keep the settings' names with empty values: the helpers read NULL.
            for _ in 0..<4 {
                try await database.transaction(DatabaseSession(role: "anon", jwt: "", sub: "", claims: "", logger: ScratchDatabase.logger)) { transaction async throws in
                    #expect(try await transaction.scalar("SELECT current_user::text") == "anon")
                    #expect(try await transaction.scalar("SELECT auth.uid()::text") == nil)
                    #expect(try await transaction.scalar("SELECT auth.jwt()::text") == nil)
                }
            }
        }
    }

    @Test func rowLevelSecurityDecides() async throws {
        try await ScratchDatabase.withDatabase { database, configuration in
            try await ScratchDatabase.administer(configuration, "INSERT INTO storage.buckets (id, name) VALUES ('b', 'b')")
            try await ScratchDatabase.administer(
                configuration,
                "CREATE POLICY own_folder ON storage.objects FOR ALL TO authenticated USING ((storage.foldername(name))[1] = auth.uid()::text) WITH CHECK ((storage.foldername(name))[1] = auth.uid()::text)")
            let alice = "aaaaaaaa-0000-4000-8000-000000000001"
            let write = { @Sendable (name: String) in
                ObjectWrite(bucketID: "b", name: name, owner: Owner(sub: alice), version: "1", metadata: .object([:]), userMetadata: nil)
            }
            try await database.transaction(.user(alice)) { transaction async throws in
                try await transaction.probeObjectWrite(write("\(alice)/ok.txt"), upsert: false)
            }
            await #expect(throws: StorageError.accessDenied("new row violates row-level security policy")) {
                try await database.transaction(.user(alice)) { transaction async throws in
                    try await transaction.probeObjectWrite(write("someone-else/no.txt"), upsert: false)
                }
            }
            let visible = try await database.transaction(.user(alice)) { transaction async throws in
                try await transaction.object(bucketID: "b", name: "\(alice)/ok.txt") != nil
            }
            #expect(visible)
            let anonymousSees = try await database.transaction(.user("x", role: "anon")) { transaction async throws in
                try await transaction.object(bucketID: "b", name: "\(alice)/ok.txt")
            }
            #expect(anonymousSees == nil)
            // The service role bypasses RLS.
            let serviceSees = try await database.transaction(.service) { transaction async throws in
                try await transaction.object(bucketID: "b", name: "\(alice)/ok.txt")?.ownerID
            }
            #expect(serviceSees == alice)
        }
    }

    /// Expects `body` to fail with `expected` (as a client sees it) keeping a cause that names `cause`.
    static func expectMapped(
        _ expected: StorageError, cause: String, _ body: () async throws -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        do {
            try await body()
            Issue.record("expected \(expected)", sourceLocation: sourceLocation)
        } catch let error as StorageError {
            #expect(error == expected, sourceLocation: sourceLocation)
            #expect(String(reflecting: error.underlying as Any).contains(cause), sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func postgresErrorsMapToTheCatalogue() async throws {
        try await ScratchDatabase.withDatabase { database, configuration in
            try await ScratchDatabase.administer(configuration, "INSERT INTO storage.buckets (id, name) VALUES ('b', 'b')")
            await #expect(throws: StorageError.resourceAlreadyExists) {
                try await database.transaction(.service) { transaction async throws in
                    try await transaction.insertBucket(id: "b", name: "b", owner: Owner(sub: nil), isPublic: false, fileSizeLimit: nil, allowedMimeTypes: nil, type: "STANDARD")
                }
            }
            // Postgres' own words (role, type and encoding names) stay in the cause, for the log.
            let invalid = StorageError.invalidParameter("A value in the request is not valid")
            let refusals: [(StorageError, String, @Sendable (Transaction) async throws -> Void)] = [
                (invalid, "invalid input syntax for type uuid", { _ = try await $0.scalar("SELECT 'nope'::uuid::text") }),
                // A list offset over 2^31 from a request body, and NUL in a prefix: the caller's input.
                (invalid, "integer out of range", { _ = try await $0.scalar("SELECT 28340275159::int::text") }),
                (invalid, "invalid byte sequence", { _ = try await $0.query("SELECT \("a\u{0}b")::text") }),
            ]
            for (expected, detail, body) in refusals {
                await Self.expectMapped(expected, cause: detail) { try await database.transaction(.service, body) }
            }
            await Self.expectMapped(StorageError.accessDenied("The token's role is not a database role"), cause: "no_such_role") {
                try await database.transaction(.user("x", role: "no_such_role")) { _ in }
            }
            await #expect(throws: StorageError.databaseTimeout) {
                try await database.transaction(.service) { transaction async throws in
                    _ = try await transaction.scalar("SELECT set_config('statement_timeout', '50', true)")
                    _ = try await transaction.scalar("SELECT pg_sleep(1)::text")
                }
            }
            await #expect(throws: StorageError.relatedResourceMissing()) {
                try await database.transaction(.service) { transaction async throws in
                    try await transaction.probeObjectWrite(
                        ObjectWrite(bucketID: "missing", name: "x", owner: Owner(sub: nil), version: "1", metadata: .object([:]), userMetadata: nil),
                        upsert: false)
                }
            }
            // Deleting behind the API's back is refused by the trigger (42501 → AccessDenied).
            do {
                try await ScratchDatabase.administer(configuration, "DELETE FROM storage.buckets WHERE id = 'b'")
                Issue.record("the delete should have been refused")
            } catch {
                let mapped = DatabaseErrors.map(error)
                #expect(mapped.code == .accessDenied)
                #expect(mapped.message == "Direct deletion from storage tables is not allowed. Use the Storage API instead.")
                #expect(mapped.underlying is PSQLError)
            }
            // A lock held elsewhere for longer than the wait → LockTimeout.
            try await withThrowingTaskGroup(of: Void.self) { group in
                let (held, release) = AsyncStream<Void>.makeStream()
                let (locked, lockedSignal) = AsyncStream<Void>.makeStream()
                group.addTask {
                    try await database.transaction(.service) { transaction async throws in
                        try await transaction.lockObjectKey(bucketID: "b", name: "k")
                        lockedSignal.yield()
                        for await _ in held { break }
                    }
                }
                for await _ in locked { break }
                await #expect(throws: StorageError.lockTimeout) {
                    try await database.transaction(.service) { transaction async throws in
                        try await transaction.lockObjectKey(bucketID: "b", name: "k", timeoutMilliseconds: 100)
                    }
                }
                release.yield()
                try await group.waitForAll()
            }
        }
    }

    /// Postgres closing a connection between two statements of a transaction (a restart, an
    /// admin's `pg_terminate_backend`) fails the next statement; postgres-nio alone would leave it
    /// waiting for ever, and its request with it.
    @Test(.timeLimit(.minutes(1)))
    func aStatementOnAConnectionPostgresClosedFailsInsteadOfHanging() async throws {
        try await ScratchDatabase.withDatabase { database, configuration in
            await #expect { try await database.transaction(.service) { transaction in
                let pid = try #require(try await transaction.scalar("SELECT pg_backend_pid()::text"))
                _ = try await ScratchDatabase.scalar(configuration, "SELECT pg_terminate_backend(\(pid))::text")
                while !transaction.connection.isClosed { try await Task.sleep(for: .milliseconds(10)) }
                return try await transaction.scalar("SELECT 1::text")
            } } throws: { error in
                (error as? StorageError)?.code == .databaseError
            }
            // The pool replaces the connection by itself.
            let afterwards = try await database.transaction(.service) { try await $0.scalar("SELECT 2::text") }
            #expect(afterwards == "2")
        }
    }

    @Test func connectionFailuresAreCleanServerErrors() async throws {
        var configuration = try DatabaseConfiguration(url: "postgres://nobody:secret@127.0.0.1:1/none")
        configuration.connectTimeout = .milliseconds(200)
        configuration.acquireTimeout = .milliseconds(300)
        let database = StorageDatabase(configuration: configuration, logger: ScratchDatabase.logger)
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await database.run() }
            defer { group.cancelAll() }
            await #expect { try await database.ping(logger: ScratchDatabase.logger) } throws: { error in
                guard let error = error as? StorageError else { return false }
                return error.code == .databaseTimeout && error.httpStatus == 544
            }
        }
    }
}

/// Behind a transaction-pooling proxy (`DATABASE_POOL_URL`): the pooler address here is the
/// database itself, which is enough to see what travels where (the compatibility suite's
/// PgBouncer pass runs the server through a real one).
@Suite(.enabled(if: ScratchDatabase.isAvailable), .serialized)
struct PoolerIntegrationTests {
    @Test func transactionsCarryTheSessionSettingsAndListenStaysDirect() async throws {
        try await ScratchDatabase.with { direct in
            var configuration = direct
            configuration.pooler = direct.address
            configuration.statementTimeoutMilliseconds = 1234
            let database = StorageDatabase(configuration: configuration, logger: ScratchDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await database.run() }
                defer { group.cancelAll() }
                try await MigrationRunner.bundled(database: database, logger: ScratchDatabase.logger).run()
                let settings = "SELECT current_setting('statement_timeout') || ' ' || current_setting('search_path')"
                // A pooled connection logged in without them (PgBouncer refuses such start-up
                // parameters); every transaction sets them for itself, as a request or as the server.
                let bare = try await database.statement(PostgresQuery(unsafeSQL: settings), logger: ScratchDatabase.logger)
                #expect(try bare.first?.decode(String.self) == #"0 "$user", public"#)
                let asUser = try await database.transaction(.user("u1")) { try await $0.scalar(settings) }
                #expect(asUser == "1234ms storage, public, extensions")
                let asServer = try await database.internalTransaction(logger: ScratchDatabase.logger) { try await $0.scalar(settings) }
                #expect(asServer == "1234ms storage, public, extensions")
                let timedOut = await #expect(throws: StorageError.self) {
                    try await database.transaction(.service) { try await $0.scalar("SELECT pg_sleep(2)::text") }
                }
                #expect(timedOut?.code == .databaseTimeout)

                // LISTEN holds a direct connection; a notification sent through the pool arrives.
                let notifications = NotificationCount()
                group.addTask {
                    try await database.listen(on: "pooler_test", logger: ScratchDatabase.logger) {
                        notifications.value.add(1, ordering: .relaxed)
                    }
                }
                let deadline = ContinuousClock.now + .seconds(10)
                var arrived = false
                while !arrived, ContinuousClock.now < deadline {
                    try await database.internalTransaction(logger: ScratchDatabase.logger) {
                        _ = try await $0.scalar("SELECT pg_notify('pooler_test', '')::text")
                    }
                    try await Task.sleep(for: .milliseconds(100))
                    arrived = notifications.value.load(ordering: .relaxed) > 0
                }
                #expect(arrived)
            }
        }
    }
}

extension PoolerIntegrationTests {
    /// The direct connections keep the acquire limit too: with the database unreachable behind a
    /// working pooler, migrating fails at once instead of waiting for it forever.
    @Test func anUnreachableDatabaseBehindAPoolerFailsMigrationsCleanly() async throws {
        var configuration = try DatabaseConfiguration(url: "postgres://nobody:secret@127.0.0.1:1/none")
        configuration.pooler = try DatabaseAddress(url: ScratchDatabase.adminURL ?? "")
        configuration.connectTimeout = .milliseconds(200)
        configuration.acquireTimeout = .milliseconds(300)
        let database = StorageDatabase(configuration: configuration, logger: ScratchDatabase.logger)
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await database.run() }
            defer { group.cancelAll() }
            await #expect {
                try await MigrationRunner.bundled(database: database, logger: ScratchDatabase.logger).run()
            } throws: { error in
                (error as? StorageError)?.code == .databaseTimeout
            }
        }
    }
}

private final class NotificationCount: Sendable {
    let value = Atomic<Int>(0)
}
