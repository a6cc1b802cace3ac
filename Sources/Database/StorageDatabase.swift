public import Logging
import Metrics
public import PostgresNIO
import NIOSSL
import Synchronization
import Telemetry
import Tracing
import WireFormats
public import ServiceLifecycle
public import StorageCore

/// Who a transaction acts as, and the request facts policies can read (contract §2.2).
public struct DatabaseSession: Sendable {
    /// Postgres role to assume (`anon`, `authenticated`, `service_role`, …).
    public var role: String
    /// The raw JWT, or `""`.
    public var jwt: String
    /// The JWT `sub`, or `""`.
    public var sub: String
    /// The verified JWT payload as JSON text.
    public var claims: String
    /// Request headers as a JSON object with lower-cased names.
    public var headers: String
    public var method: String
    /// Path including the query string.
    public var path: String
    public var operation: StorageOperation?
    /// The logger of the request the transaction serves: its statements log with its id.
    public var logger: Logger

    public init(
        role: String, jwt: String, sub: String, claims: String, headers: String = "{}",
        method: String = "", path: String = "", operation: StorageOperation? = nil, logger: Logger
    ) {
        self.role = role
        self.jwt = jwt
        self.sub = sub
        self.claims = claims
        self.headers = headers
        self.method = method
        self.path = path
        self.operation = operation
        self.logger = logger
    }

    /// The same request acting as the service role, for the "superuser" steps of contract §2.3.
    public func asServiceRole(serviceKey: String) -> DatabaseSession {
        var session = self
        session.role = "service_role"
        session.jwt = serviceKey
        session.sub = ""
        session.claims = #"{"role":"service_role"}"#
        return session
    }
}

/// The Postgres side of the server: a connection pool plus per-request transactions that take on
/// the caller's role and JWT claims, so row-level security decides access.
///
/// Run it as a service (it owns the pool's background work) before issuing queries.
public final class StorageDatabase: Service, Sendable {
    /// Where queries go: the pooler when there is one, else the database itself.
    let client: PostgresClient
    /// Direct connections for session work (the migration lock, LISTEN) when queries go through
    /// a pooler; nil when `client` is direct already.
    let sessionClient: PostgresClient?
    let logger: Logger
    let configuration: DatabaseConfiguration
    /// The session settings each transaction sets for itself behind a pooler, whose server
    /// connections never saw this client's log-in; nil when they travel in the start-up packet.
    let transactionSettings: TransactionSettings?

    public init(configuration: DatabaseConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let settings = TransactionSettings(
            searchPath: "storage, public, extensions", statementTimeout: String(configuration.statementTimeoutMilliseconds))
        if let pooler = configuration.pooler {
            // PgBouncer refuses start-up parameters it does not track (search_path,
            // statement_timeout) and would apply them to one server connection at most.
            self.client = Self.client(pooler, configuration, settings: nil, maximumConnections: configuration.maximumConnections, logger: logger)
            // One for migrations, one per listener (events, processing), one to spare.
            self.sessionClient = Self.client(configuration.address, configuration, settings: settings, maximumConnections: 4, logger: logger)
            self.transactionSettings = settings
        } else {
            self.client = Self.client(configuration.address, configuration, settings: settings, maximumConnections: configuration.maximumConnections, logger: logger)
            self.sessionClient = nil
            self.transactionSettings = nil
        }
    }

    private static func client(
        _ address: DatabaseAddress, _ configuration: DatabaseConfiguration, settings: TransactionSettings?,
        maximumConnections: Int, logger: Logger
    ) -> PostgresClient {
        var postgres: PostgresClient.Configuration
        if let socketDirectory = address.unixSocketDirectory {
            postgres = .init(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(address.port)",
                username: address.username, password: address.password, database: address.database)
        } else {
            let tls: PostgresClient.Configuration.TLS
            switch address.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(.makeClientConfiguration())
            case .require: tls = .require(.makeClientConfiguration())
            }
            postgres = .init(
                host: address.host, port: address.port, username: address.username,
                password: address.password, database: address.database, tls: tls)
        }
        postgres.options.maximumConnections = maximumConnections
        postgres.options.connectTimeout = configuration.connectTimeout
        postgres.options.additionalStartupParameters = [("application_name", "storage-api")]
        if let settings {
            postgres.options.additionalStartupParameters += [
                ("search_path", settings.searchPath), ("statement_timeout", settings.statementTimeout),
            ]
        }
        return PostgresClient(configuration: postgres, backgroundLogger: logger)
    }

    public func run() async throws {
        guard let sessionClient else { return await client.run() }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await sessionClient.run() }
        }
    }

    /// Runs `body` inside `BEGIN … COMMIT` after setting the session GUCs of `session`.
    /// Any error rolls back and comes out mapped to the storage error catalogue.
    public func transaction<Result: Sendable>(
        _ session: DatabaseSession, _ body: @escaping @Sendable (Transaction) async throws -> Result
    ) async throws -> Result {
        try await run(session, logger: session.logger, commit: true, body)
    }

    /// Runs `body` as `session` and always rolls back: lookups plus the RLS probe of contract §2.3.
    public func rolledBack<Result: Sendable>(
        _ session: DatabaseSession, _ body: @escaping @Sendable (Transaction) async throws -> Result
    ) async throws -> Result {
        try await run(session, logger: session.logger, commit: false, body)
    }

    /// Runs `body` inside `BEGIN … COMMIT` as the server's own login role, for the server's
    /// internal tables (`storage_api`), which no request role can reach. `logger` is the logger
    /// of the request or background job the work is for.
    public func internalTransaction<Result: Sendable>(
        logger: Logger, _ body: @escaping @Sendable (Transaction) async throws -> Result
    ) async throws -> Result {
        try await run(nil, logger: logger, commit: true, body)
    }

    private func run<Result: Sendable>(
        _ session: DatabaseSession?, logger: Logger, commit: Bool,
        _ body: @escaping @Sendable (Transaction) async throws -> Result
    ) async throws -> Result {
        let started = ContinuousClock.now
        var outcome = commit ? "commit" : "rollback"
        let span = Telemetry.startChildSpan("db.transaction", kind: .client, logger: logger)
        defer {
            // One line per transaction at debug: with the request id on the logger, a grep of
            // the id shows each of the request's transactions, as whom and how it ended.
            logger.debug("database transaction", metadata: [
                "role": "\(session?.role ?? "server")", "operation": "\(session?.operation?.rawValue ?? "")",
                "outcome": "\(outcome)", "ms": "\((ContinuousClock.now - started).milliseconds)",
            ])
            if let span {
                span.attributes["db.system"] = "postgresql"
                span.attributes["db.role"] = session?.role ?? "server"
                span.attributes["storage.operation"] = session?.operation?.rawValue
                span.attributes["db.outcome"] = outcome
                if outcome == "failed" { span.setStatus(SpanStatus(code: .error)) }
                span.end()
            }
        }
        do {
            let settings = transactionSettings
            return try await withConnection { connection in
                DatabaseMetrics.transactionsInProgress.increment()
                defer { DatabaseMetrics.transactionsInProgress.decrement() }
                try await connection.run("BEGIN", logger: logger)
                do {
                    let transaction = Transaction(connection: connection, logger: logger, settings: settings)
                    if let session {
                        try await transaction.become(session)
                    } else if let settings {
                        try await connection.run(settings.query, logger: logger)
                    }
                    let result: Result
                    do {
                        result = try await body(transaction)
                    } catch let error where !(error is PSQLError || error is ConnectionClosed || error is PostgresDecodingError || error is CancellationError) {
                        throw BodyError(error: error)
                    }
                    try await connection.run(commit ? "COMMIT" : "ROLLBACK", logger: logger)
                    return result
                } catch {
                    // On a connection Postgres closed, `run` refuses at once: there is nothing to roll back.
                    _ = try? await connection.run("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch let error as BodyError {
            // The caller's own failure (a lost lease, a duplicate key it detected): unchanged.
            outcome = "failed"
            throw error.error
        } catch {
            outcome = "failed"
            throw DatabaseErrors.map(error)
        }
    }

    /// Runs one statement on a pooled connection, outside any transaction (Postgres commits it
    /// by itself): the server's own bookkeeping, where one round trip is enough.
    @discardableResult
    func statement(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        let started = ContinuousClock.now
        let span = Telemetry.startChildSpan("db.statement", kind: .client, logger: logger)
        span?.attributes["db.system"] = "postgresql"
        defer { span?.end() }
        do {
            let rows = try await withConnection { connection in try await connection.run(query, logger: logger) }
            logger.debug("database statement", metadata: [
                "rows": "\(rows.count)", "ms": "\((ContinuousClock.now - started).milliseconds)"])
            return rows
        } catch {
            span?.setStatus(SpanStatus(code: .error))
            logger.debug("database statement", metadata: [
                "outcome": "failed", "ms": "\((ContinuousClock.now - started).milliseconds)"])
            throw DatabaseErrors.map(error)
        }
    }

    /// Checks that the database answers (used by `/health`).
    public func ping(logger: Logger) async throws {
        do {
            _ = try await withConnection { connection in
                try await connection.run("SELECT 1", logger: logger)
            }
        } catch {
            throw DatabaseErrors.map(error)
        }
    }

    /// Leases a direct connection for work that outlives a transaction (a session lock, LISTEN):
    /// behind a pooler, one of the few direct connections kept for it. Same acquire limit.
    func withSessionConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection(from: sessionClient ?? client, body)
    }

    /// Leases a pooled connection for `body`.
    func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection(from: client, body)
    }

    /// Leases a connection of `pool` for `body`, waiting at most `acquireTimeout` for one: while
    /// Postgres is down the pool would otherwise queue requests for up to a minute.
    private func withConnection<Result: Sendable>(
        from pool: PostgresClient, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let acquired = AcquiredFlag()
        let timeout = configuration.acquireTimeout
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await pool.withConnection { connection in
                    acquired.value.store(true, ordering: .relaxed)
                    return try await body(connection)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                if !acquired.value.load(ordering: .relaxed), !Task.isCancelled { throw StorageError.databaseTimeout }
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let result = next { return result }
            }
            throw StorageError.databaseTimeout
        }
    }
}

/// The session settings the server needs in every transaction (`search_path`,
/// `statement_timeout`). Both values are the server's own, never a caller's, so they are spliced
/// into SQL as literals: that lets `become` set them in the statement it sends anyway.
struct TransactionSettings: Sendable {
    let searchPath: String
    let statementTimeout: String
    /// `set_config(…, true)` for each, as items of a SELECT list.
    var selectList: String {
        "set_config('search_path', '\(searchPath)', true), set_config('statement_timeout', '\(statementTimeout)', true)"
    }
    var query: PostgresQuery { PostgresQuery(unsafeSQL: "SELECT " + selectList) }
}

/// An open transaction on one connection. Queries run in order; do not share across tasks.
public struct Transaction: Sendable {
    let connection: PostgresConnection
    let logger: Logger
    /// Session settings `become` sets along with the role, behind a pooler.
    var settings: TransactionSettings? = nil
    /// The role `become` last took on; nil while the transaction is the server's login role.
    let role = CurrentRole()

    /// Sets the role and request settings of `session` for the rest of the transaction.
    /// Called again, it switches identity (the superuser steps inside a caller's transaction).
    public func become(_ session: DatabaseSession) async throws {
        try await connection.run(
            """
            SELECT set_config('role', \(session.role), true),
                   set_config('request.jwt.claim.role', \(session.role), true),
                   set_config('request.jwt', \(session.jwt), true),
                   set_config('request.jwt.claim.sub', \(session.sub), true),
                   set_config('request.jwt.claims', \(session.claims), true),
                   set_config('request.headers', \(session.headers), true),
                   set_config('request.method', \(session.method), true),
                   set_config('request.path', \(session.path), true),
                   set_config('storage.operation', \(session.operation?.rawValue ?? ""), true),
                   set_config('storage.allow_delete_query', 'true', true)\(unescaped: settings.map { ", " + $0.selectList } ?? "")
            """,
            logger: logger)
        role.name = session.role
    }

    /// Before a statement on the server's own tables (`storage_api`): a request role cannot reach
    /// them, so the transaction steps out of it. Returns the role to step back into after the
    /// statement, or nil when no step was needed (the login role, or the service role, which the
    /// tables are granted to).
    func stepOutOfRequestRole() async throws -> String? {
        guard let current = role.name, current != "service_role" else { return nil }
        try await query("SELECT set_config('role', 'none', true)")
        return current
    }

    /// Runs one statement and returns all its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await connection.run(query, logger: logger)
    }
}

/// The role a transaction acts as, as far as `become` set it (statements that switch role
/// themselves put it back before they end).
final class CurrentRole: Sendable {
    private let value = Mutex<String?>(nil)

    var name: String? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// Carries an error the transaction body threw past the database error mapping.
private struct BodyError: Error {
    let error: any Error
}

/// Shared between the lease and its timer.
private final class AcquiredFlag: Sendable {
    let value = Atomic<Bool>(false)
}

extension PostgresConnection {
    /// Runs a statement and reads every row. postgres-nio reports an error raised while a
    /// statement executes (after its row description) only through the row stream, so a stream
    /// left unread would hide the error and let COMMIT quietly roll back.
    ///
    /// The statement is handed to the connection on its event loop, and only while its channel is
    /// open: postgres-nio writes statements without a write promise, so one written to a channel
    /// that has already closed (Postgres restarted between two statements of a transaction) is
    /// dropped by the pipeline and its result never arrives. On the event loop the check and the
    /// write cannot be separated by the close.
    @discardableResult
    func run(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        let connection = self
        let eventLoop = self.eventLoop
        return try await eventLoop.flatSubmit { () -> EventLoopFuture<[PostgresRow]> in
            guard !connection.isClosed else {
                return eventLoop.makeFailedFuture(ConnectionClosed())
            }
            return connection.query(query, logger: logger).map(\.rows)
        }.get()
    }
}

/// A statement was not sent: Postgres had already closed the connection.
struct ConnectionClosed: Error, CustomStringConvertible {
    var description: String { "the database closed the connection" }
}

/// Pool use as Prometheus sees it: connections held by transactions right now.
enum DatabaseMetrics {
    static let transactionsInProgress = Meter(label: "storage_db_transactions_in_progress")
}
