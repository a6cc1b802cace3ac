public import Database
import Foundation
public import Logging
import PostgresNIO

/// Databases for integration tests, created on the cluster `TEST_DATABASE_URL` names (the test
/// command starts one) and dropped afterwards.
public enum ScratchDatabase {
    public static var adminURL: String? {
        ProcessInfo.processInfo.environment["TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether integration tests can run here.
    public static var isAvailable: Bool { adminURL != nil }

    public static let logger: Logger = {
        var logger = Logger(label: "tests")
        logger.logLevel = .warning
        return logger
    }()

    /// Creates an empty database, runs `body` with its configuration, then drops it.
    public static func with<Result>(_ body: (DatabaseConfiguration) async throws -> Result) async throws -> Result {
        guard let adminURL else { throw TestSupportError("TEST_DATABASE_URL is not set; run through scripts/test") }
        let admin = try DatabaseConfiguration(url: adminURL)
        let name = "test_\(UUID().uuidString.prefix(8).lowercased())"
        try await administer(admin, "CREATE DATABASE \"\(name)\"")
        var configuration = admin
        configuration.database = name
        do {
            let result = try await body(configuration)
            try await administer(admin, "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)")
            return result
        } catch {
            try? await administer(admin, "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)")
            throw error
        }
    }

    /// A `postgres://` URL for `configuration` (TCP, password auth).
    public static func url(_ configuration: DatabaseConfiguration) -> String {
        let password = configuration.password.map { ":\($0)" } ?? ""
        return "postgres://\(configuration.username)\(password)@\(configuration.host):\(configuration.port)/\(configuration.database ?? "")"
    }

    /// A running `StorageDatabase` on a fresh database, optionally migrated.
    public static func withDatabase<Result: Sendable>(
        migrated: Bool = true, _ body: @Sendable (StorageDatabase, DatabaseConfiguration) async throws -> Result
    ) async throws -> Result {
        try await with { configuration in
            let database = StorageDatabase(configuration: configuration, logger: logger)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await database.run() }
                defer { group.cancelAll() }
                if migrated {
                    try await MigrationRunner.bundled(database: database, logger: logger).run()
                }
                return try await body(database, configuration)
            }
        }
    }

    /// Runs one statement outside any transaction on `configuration`'s database, as its owner.
    public static func administer(_ configuration: DatabaseConfiguration, _ sql: String) async throws {
        _ = try await scalar(configuration, sql)
    }

    /// The first column of the first row of `sql` as text, run as the database owner.
    @discardableResult
    public static func scalar(_ configuration: DatabaseConfiguration, _ sql: String) async throws -> String? {
        let client = PostgresClient(
            configuration: .init(
                host: configuration.host, port: configuration.port, username: configuration.username,
                password: configuration.password, database: configuration.database, tls: .disable),
            backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let rows = try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
            return try rows.first?.decode(String?.self) ?? nil
        }
    }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
