import Auth
import Database
import Foundation
public import Hummingbird
public import Logging
import ObjectStore
import ServiceLifecycle
import StorageAPI
import StorageService

/// A failure that stops the process before it serves, with a message meant for the operator.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Entry points of the `storage-api` commands.
public enum StorageServer {
    /// Installs the JSON log handler once per process.
    static func bootstrapLogging(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        return Logger(label: "storage-api")
    }

    /// `storage-api migrate`: applies pending migrations and returns.
    public static func migrate(_ configuration: ServerConfiguration) async throws {
        let logger = bootstrapLogging(level: configuration.logLevel)
        let database = StorageDatabase(configuration: configuration.database, logger: logger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await database.run() }
            try await runMigrations(database, logger: logger)
            group.cancelAll()
        }
    }

    static func runMigrations(_ database: StorageDatabase, logger: Logger) async throws {
        do {
            let applied = try await MigrationRunner(database: database, migrations: Migration.bundled(), logger: logger).run()
            logger.info("migrations complete", metadata: ["applied": "\(applied.count)"])
        } catch let error as MigrationError {
            throw StartupError(error.description)
        } catch {
            throw StartupError("could not migrate the database: \(DatabaseErrors.map(error).message)")
        }
    }

    /// The anon and service-role keys for the configured secret (or the configured keys).
    public static func roleKeys(_ configuration: ServerConfiguration) throws -> (anon: String, service: String) {
        let signer = try JWTSigner(secret: configuration.jwtSecret, algorithm: configuration.jwtAlgorithm)
        return (
            configuration.anonKey ?? signer.roleKey("anon"),
            configuration.serviceKey ?? signer.roleKey("service_role")
        )
    }

    /// `storage-api serve`: migrates, then serves until SIGTERM or SIGINT (in-flight requests,
    /// uploads included, finish first).
    public static func serve(_ configuration: ServerConfiguration) async throws {
        let logger = bootstrapLogging(level: configuration.logLevel)
        let application = try makeApplication(configuration, logger: logger)
        try await application.runService()
    }

    /// The whole server as a Hummingbird application, its database pool among its services.
    /// Migrations run before the listener opens.
    public static func makeApplication(
        _ configuration: ServerConfiguration, logger: Logger
    ) throws -> some ApplicationProtocol {
        let database = StorageDatabase(configuration: configuration.database, logger: logger)
        let keys = try roleKeys(configuration)
        let verifier: JWTVerifier
        do {
            verifier = try JWTVerifier(
                secret: configuration.jwtSecret, algorithm: configuration.jwtAlgorithm, jwks: configuration.jwks)
        } catch {
            throw StartupError("JWT_JWKS: \(error)")
        }
        let store = try makeObjectStore(configuration, logger: logger)
        let service = StorageService(
            database: database, store: store,
            settings: StorageSettings(
                tenantID: configuration.tenantID, uploadFileSizeLimit: configuration.uploadFileSizeLimit,
                serviceKey: keys.service, emptyBucketMaximum: configuration.emptyBucketMaximum),
            logger: logger)
        let api = StorageAPI(
            service: service, authenticator: Authenticator(verifier: verifier),
            cors: CORSPolicy(allowedOrigins: configuration.corsAllowedOrigins), logger: logger)
        var application = Application(
            router: api.router(),
            server: .http1(configuration: .init(additionalChannelHandlers: [ExpectContinueHandler()])),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "storage-api"),
            onServerRunning: { channel in
                logger.info("listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
            },
            logger: logger)
        application.addServices(database)
        application.beforeServerStarts {
            try await runMigrations(database, logger: logger)
            if let fileStore = store as? FileObjectStore {
                let removed = try await fileStore.sweepAbandonedTemporaryFiles(olderThan: .seconds(3600))
                if removed > 0 { logger.info("removed abandoned partial uploads", metadata: ["count": "\(removed)"]) }
            }
        }
        return application
    }

    static func makeObjectStore(_ configuration: ServerConfiguration, logger: Logger) throws -> any ObjectStore {
        let root = URL(fileURLWithPath: configuration.fileStoragePath, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
        do {
            return try FileObjectStore(root: root, bucket: configuration.s3Bucket, logger: logger)
        } catch {
            throw StartupError("FILE_STORAGE_BACKEND_PATH \(root) is not usable: \(error)")
        }
    }
}
