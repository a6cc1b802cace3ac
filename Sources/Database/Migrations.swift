import Crypto
import Foundation
public import Logging
import PostgresNIO
import StorageCore

/// One numbered SQL file of `migrations/`.
public struct Migration: Sendable, Equatable {
    /// Upstream's id (the file's numeric prefix).
    public let id: Int
    /// Upstream's name (the file name without prefix and extension).
    public let name: String
    public let fileName: String
    public let sql: String

    /// `sha1(fileName + contents)` in hex, as upstream's runner records it.
    public var hash: String {
        Insecure.SHA1.hash(data: Array((fileName + sql).utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Parses `0002-storage-schema.sql` into id 2 and name `storage-schema`.
    public init?(fileName: String, sql: String) {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        let digits = stem.prefix { $0.isNumber }
        guard let id = Int(digits) else { return nil }
        var name = stem.dropFirst(digits.count)
        if name.first == "-" || name.first == "_" { name = name.dropFirst() }
        self.id = id
        self.name = String(name)
        self.fileName = fileName
        self.sql = sql
    }

    /// Upstream's migrations shipped with this build, in id order (recorded in `storage.migrations`).
    public static func bundled() throws -> [Migration] {
        try bundled(folder: "Migrations")
    }

    /// This project's own migrations, in id order (recorded in `storage_api.migrations`): tables
    /// Supabase's schema does not have, kept out of `storage` so upstream's runner never meets
    /// ids it does not know.
    public static func projectBundled() throws -> [Migration] {
        try bundled(folder: "ProjectMigrations")
    }

    private static func bundled(folder: String) throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: folder, withExtension: nil) else {
            throw MigrationError("the \(folder) folder is missing from the build")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        let migrations = try files.compactMap { file -> Migration? in
            let contents = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            return Migration(fileName: file, sql: contents)
        }.sorted { $0.id < $1.id }
        for (index, migration) in migrations.enumerated() where migration.id != index + 1 {
            throw MigrationError("migration ids must be consecutive from 1; found \(migration.fileName)")
        }
        return migrations
    }
}

/// A migration that could not be applied.
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Applies pending migrations and records them in `storage.migrations` with upstream's ids,
/// names and hashes, so either implementation accepts a database the other migrated; then this
/// project's own migrations, recorded in `storage_api.migrations`.
///
/// Concurrent runners (several replicas starting together, or upstream's runner) are serialised
/// by a session advisory lock on upstream's key; each migration runs in its own transaction.
public struct MigrationRunner: Sendable {
    /// Upstream's advisory lock key, so the two runners also exclude each other.
    static let lockKey: Int64 = -8_525_285_245_963_000_605
    /// Upstream's row 0, written by its runner library before any file runs.
    static let bootstrap = (id: 0, name: "create-migrations-table", hash: "e18db593bcde2aca2a408c4d1100f6abba2195df")

    /// Where a set of migrations is recorded.
    struct Ledger: Sendable {
        /// The schemas that keep a ledger: identifiers, so they reach SQL as enum raw values.
        enum Schema: String, Sendable, SQLFragment {
            case storage
            case storageAPI = "storage_api"
        }

        let schema: Schema
        /// Upstream's ledger starts with its runner library's own row.
        let writesBootstrapRow: Bool

        static let upstream = Ledger(schema: .storage, writesBootstrapRow: true)
        static let project = Ledger(schema: .storageAPI, writesBootstrapRow: false)
    }

    let database: StorageDatabase
    let migrations: [Migration]
    let projectMigrations: [Migration]
    let logger: Logger

    public init(database: StorageDatabase, migrations: [Migration], projectMigrations: [Migration] = [], logger: Logger) {
        self.database = database
        self.migrations = migrations
        self.projectMigrations = projectMigrations
        self.logger = logger
    }

    /// The runner for everything this build ships.
    public static func bundled(database: StorageDatabase, logger: Logger) throws -> MigrationRunner {
        MigrationRunner(
            database: database, migrations: try Migration.bundled(), projectMigrations: try Migration.projectBundled(),
            logger: logger)
    }

    /// Runs every migration not yet recorded. Returns the ones applied now (upstream's first).
    @discardableResult
    public func run(lockTimeout: Duration = .seconds(120)) async throws -> [Migration] {
        let logger = self.logger
        let sets = [(Ledger.upstream, migrations), (Ledger.project, projectMigrations)]
        return try await database.withSessionConnection { connection in
            try await Self.acquireLock(connection, timeout: lockTimeout, logger: logger)
            do {
                // Migrations may build indexes on large tables: no statement timeout here.
                try await connection.run("SET statement_timeout = 0", logger: logger)
                var done: [Migration] = []
                for (ledger, migrations) in sets where !migrations.isEmpty {
                    try await Self.prepare(ledger, connection, logger: logger)
                    let applied = try await Self.appliedIDs(ledger, connection, logger: logger)
                    for migration in migrations where !applied.contains(migration.id) {
                        try await Self.apply(migration, to: ledger, on: connection, logger: logger)
                        done.append(migration)
                    }
                }
                try await connection.run("RESET statement_timeout", logger: logger)
                try await connection.run("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return done
            } catch {
                _ = try? await connection.run("ROLLBACK", logger: logger)
                _ = try? await connection.run("RESET statement_timeout", logger: logger)
                _ = try? await connection.run("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    /// Polls a session lock rather than blocking: a blocked statement would hold a snapshot that
    /// index builds of the lock holder wait on.
    private static func acquireLock(_ connection: PostgresConnection, timeout: Duration, logger: Logger) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            let rows = try await connection.run("SELECT pg_try_advisory_lock(\(lockKey))", logger: logger)
            if try rows.first?.decode(Bool.self) == true { return }
            guard clock.now < deadline else {
                throw MigrationError("another process kept the migration lock for \(timeout)")
            }
            logger.info("waiting for another process to finish migrating")
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    private static func prepare(_ ledger: Ledger, _ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.run("CREATE SCHEMA IF NOT EXISTS \(sql: ledger.schema)", logger: logger)
        try await connection.run(
            """
            CREATE TABLE IF NOT EXISTS \(sql: ledger.schema).migrations (
              id integer PRIMARY KEY,
              name varchar(100) UNIQUE NOT NULL,
              hash varchar(40) NOT NULL,
              executed_at timestamp DEFAULT current_timestamp
            )
            """, logger: logger)
        if ledger.writesBootstrapRow {
            try await connection.run(
                """
                INSERT INTO storage.migrations (id, name, hash)
                VALUES (\(bootstrap.id), \(bootstrap.name), \(bootstrap.hash))
                ON CONFLICT (id) DO NOTHING
                """, logger: logger)
        }
    }

    private static func appliedIDs(_ ledger: Ledger, _ connection: PostgresConnection, logger: Logger) async throws -> Set<Int> {
        var ids: Set<Int> = []
        let rows = try await connection.run("SELECT id FROM \(sql: ledger.schema).migrations", logger: logger)
        for row in rows { ids.insert(try row.decode(Int.self)) }
        return ids
    }

    private static func apply(
        _ migration: Migration, to ledger: Ledger, on connection: PostgresConnection, logger: Logger
    ) async throws {
        logger.info("applying migration", metadata: ["id": "\(migration.id)", "name": "\(migration.name)", "ledger": "\(ledger.schema.rawValue)"])
        try await connection.run("BEGIN", logger: logger)
        for statement in SQLScript.statements(in: migration.sql) {
            do {
                // A migration file's own SQL, shipped with the binary: the one text run as written.
                try await connection.run(PostgresQuery(unsafeSQL: statement), logger: logger)
            } catch let error as PSQLError {
                let reason = error.serverInfo?[.message] ?? "\(error.code)"
                throw MigrationError("migration \(migration.fileName) failed: \(reason)")
            }
        }
        try await connection.run(
            """
            INSERT INTO \(sql: ledger.schema).migrations (id, name, hash)
            VALUES (\(migration.id), \(migration.name), \(migration.hash))
            """, logger: logger)
        try await connection.run("COMMIT", logger: logger)
    }
}
