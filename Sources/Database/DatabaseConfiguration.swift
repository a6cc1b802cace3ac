#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where a Postgres server (or a proxy speaking its protocol) listens and who to log in as,
/// parsed from a `postgres://user:password@host:port/database?…` URL.
public struct DatabaseAddress: Sendable, Equatable {
    /// How TLS is used, from the URL's `sslmode`.
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String?
    /// Directory holding the server's Unix socket (`?host=/path`), when connecting through one.
    public var unixSocketDirectory: String?
    public var tls: TLSMode

    public init(
        host: String, port: Int = 5432, username: String, password: String?, database: String?,
        unixSocketDirectory: String? = nil, tls: TLSMode = .disable
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.unixSocketDirectory = unixSocketDirectory
        self.tls = tls
    }

    /// Parses a libpq-style URL (`postgres://` or `postgresql://`).
    public init(url text: String) throws(DatabaseConfigurationError) {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else { throw DatabaseConfigurationError("must look like postgres://user:password@host:port/database") }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        let socketDirectory = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        let host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? query["host"] ?? "localhost"
        guard let user = components.user.flatMap({ $0.removingPercentEncoding }) ?? query["user"], !user.isEmpty else {
            throw DatabaseConfigurationError("has no user name")
        }
        var database = String(components.path.drop { $0 == "/" })
        database = database.removingPercentEncoding ?? database
        let tls: TLSMode
        switch query["sslmode"] ?? "prefer" {
        case "disable", "allow": tls = .disable
        case "prefer": tls = .prefer
        case "require", "verify-ca", "verify-full": tls = .require
        case let other: throw DatabaseConfigurationError("sslmode \(other) is not supported")
        }
        self.init(
            host: host, port: components.port ?? 5432, username: user,
            password: components.password.flatMap { $0.removingPercentEncoding } ?? query["password"],
            database: database.isEmpty ? user : database, unixSocketDirectory: socketDirectory,
            tls: socketDirectory != nil || Self.isLoopback(host) ? .disable : tls)
    }

    /// TLS to a server on this machine buys nothing and local clusters rarely have certificates.
    private static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "127.0.0.1" || host == "::1"
    }
}

/// Connection settings: the database's address, an optional pooler in front of it, and the pool's
/// limits and timeouts.
public struct DatabaseConfiguration: Sendable, Equatable {
    public typealias TLSMode = DatabaseAddress.TLSMode

    /// The database itself (`DATABASE_URL`): migrations and LISTEN always connect here, and so
    /// do queries when there is no pooler.
    public var address: DatabaseAddress
    /// A transaction-pooling proxy (PgBouncer, Supavisor; `DATABASE_POOL_URL`) that queries go
    /// through instead. A pooler hands each transaction whichever server connection is free, so
    /// nothing that outlives a transaction can travel through it: session settings are set in
    /// every transaction instead of at log-in, and session work (the migration lock, LISTEN)
    /// keeps a few direct connections.
    public var pooler: DatabaseAddress?
    public var maximumConnections: Int = 20
    public var connectTimeout: Duration = .seconds(3)
    /// `statement_timeout` for every session, in milliseconds (0 disables it).
    public var statementTimeoutMilliseconds: Int = 30_000
    /// How long a request waits for a pooled connection before failing with DatabaseTimeout.
    public var acquireTimeout: Duration = .seconds(3)

    public init(
        host: String, port: Int = 5432, username: String, password: String?, database: String?,
        unixSocketDirectory: String? = nil, tls: TLSMode = .disable
    ) {
        address = DatabaseAddress(
            host: host, port: port, username: username, password: password, database: database,
            unixSocketDirectory: unixSocketDirectory, tls: tls)
    }

    /// Parses a libpq-style URL (`postgres://` or `postgresql://`) for the database's address.
    public init(url text: String) throws(DatabaseConfigurationError) {
        address = try DatabaseAddress(url: text)
    }

    public var host: String {
        get { address.host }
        set { address.host = newValue }
    }
    public var port: Int {
        get { address.port }
        set { address.port = newValue }
    }
    public var username: String {
        get { address.username }
        set { address.username = newValue }
    }
    public var password: String? {
        get { address.password }
        set { address.password = newValue }
    }
    public var database: String? {
        get { address.database }
        set { address.database = newValue }
    }
}

/// An invalid database URL (`DATABASE_URL`, `DATABASE_POOL_URL`); the message leaves the
/// variable to the caller.
public struct DatabaseConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
