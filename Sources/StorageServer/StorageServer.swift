import Events
import Auth
import Database
import Foundation
import Metrics
import NIOCore
public import Prometheus
import ImageTransform
import StorageCore
public import Hummingbird
public import Logging
public import ServiceLifecycle
import StorageAPI
import OTel
import Telemetry
import Tracing
import S3API
public import StorageService

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
            let applied = try await MigrationRunner.bundled(database: database, logger: logger).run()
            logger.info("migrations complete", metadata: ["applied": "\(applied.count)"])
        } catch let error as MigrationError {
            throw StartupError(error.description)
        } catch {
            throw StartupError("could not migrate the database: \(DatabaseErrors.map(error))")
        }
    }

    /// `storage-api reconcile`: compares the backend with the rows once, reporting each finding
    /// through `report` and returning the totals. Needs the server's database and backend settings.
    public static func reconcile(
        _ configuration: ServerConfiguration, dryRun: Bool, minimumAge: Duration,
        report: @escaping @Sendable (ReconcileFinding) -> Void
    ) async throws -> ReconcileSummary {
        let logger = bootstrapLogging(level: configuration.logLevel)
        let database = StorageDatabase(configuration: configuration.database, logger: logger)
        let serviceKey = try roleKeys(configuration).service
        // Last of what can throw: once made, an S3 backend's HTTP client must be shut down.
        let backend = try ConfiguredBackend.make(configuration, cleanups: DurableCleanupSink(database: database))
        let service = StorageService(
            database: database, store: backend.store,
            settings: StorageSettings(
                tenantID: configuration.tenantID, uploadFileSizeLimit: configuration.uploadFileSizeLimit,
                serviceKey: serviceKey))
        let outcome: Result<ReconcileSummary, any Error>
        do {
            outcome = .success(try await withThrowingTaskGroup { group in
                group.addTask { try await database.run() }
                defer { group.cancelAll() }
                return try await service.reconcile(
                    dryRun: dryRun, minimumAge: minimumAge, logger: BackgroundJobLogger.make(logger, job: "reconcile"), report: report)
            })
        } catch {
            outcome = .failure(error)
        }
        await backend.shutdown()
        return try outcome.get()
    }

    /// The anon and service-role keys for the configured secret (or the configured keys).
    public static func roleKeys(_ configuration: ServerConfiguration) throws -> (anon: String, service: String) {
        let signer = try JWTSigner(secret: configuration.jwtSecret, algorithm: configuration.jwtAlgorithm)
        return (
            configuration.anonKey ?? signer.roleKey("anon"),
            configuration.serviceKey ?? signer.roleKey("service_role")
        )
    }

    /// A one-line account of why the server stopped.
    public static func describe(_ error: any Error) -> String {
        if let error = error as? StartupError { return error.description }
        if let error = error as? ConfigurationError { return error.description }
        return String(describing: error).replacingOccurrences(of: "\n", with: " ")
    }

    /// `storage-api serve`: migrates, then serves until SIGTERM or SIGINT (in-flight requests,
    /// uploads included, finish first).
    public static func serve(_ configuration: ServerConfiguration) async throws {
        let logger = bootstrapLogging(level: configuration.logLevel)
        let registry = PrometheusCollectorRegistry()
        // Off, metrics go to swift-metrics' no-op backend: nothing is collected at all.
        if configuration.metricsEnabled {
            MetricsSystem.bootstrap(PrometheusMetricsFactory.storage(registry: registry))
        }
        // Before anything makes an HTTP client: async-http-client takes the tracer it finds then.
        let tracing = try bootstrapTracing(configuration, logger: logger)
        let application = try makeApplication(configuration, logger: logger, metrics: registry, tracing: tracing)
        try await application.runService()
    }

    /// With `TRACING_ENABLED`, installs swift-otel's tracer (OTLP/HTTP, batched, configured by
    /// the standard `OTEL_*` variables, W3C trace context) and returns the service that exports.
    /// Not `OTel.bootstrap`: that would install its own logging and metrics backends too.
    static func bootstrapTracing(_ configuration: ServerConfiguration, logger: Logger) throws -> (any Service)? {
        guard configuration.tracingEnabled else { return nil }
        // The SDK's own off switch wins, as OpenTelemetry specifies.
        if ProcessInfo.processInfo.environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" {
            logger.notice("TRACING_ENABLED is set but OTEL_SDK_DISABLED=true: no spans are recorded")
            return nil
        }
        var otel = OTel.Configuration.default
        otel.serviceName = "storage-api"
        otel.diagnosticLogger = .custom(logger)
        otel.logs.enabled = false
        otel.metrics.enabled = false
        do {
            let (tracer, service) = try OTel.makeTracingBackend(configuration: otel)
            InstrumentationSystem.bootstrap(tracer)
            return service
        } catch {
            throw StartupError("tracing could not start: \(error)")
        }
    }

    /// The whole server as a Hummingbird application, its database pool among its services.
    /// Migrations run before the listener opens. `tracing` (the span exporter) stops last, after
    /// every span the other services end.
    public static func makeApplication(
        _ configuration: ServerConfiguration, logger: Logger, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        tracing: (any Service)? = nil
    ) throws -> some ApplicationProtocol {
        Gauge(label: "storage_db_pool_size").record(configuration.database.maximumConnections)
        let database = StorageDatabase(configuration: configuration.database, logger: logger)
        let keys = try roleKeys(configuration)
        let verifier: JWTVerifier
        let tokens: SignedURLTokens
        do {
            verifier = try JWTVerifier(
                secret: configuration.jwtSecret, algorithm: configuration.jwtAlgorithm, jwks: configuration.jwks)
            tokens = SignedURLTokens(
                signer: try JWTSigner.urlTokens(
                    secret: configuration.jwtSecret, algorithm: configuration.jwtAlgorithm, jwks: configuration.jwks),
                verifier: try JWTVerifier.urlTokens(
                    secret: configuration.jwtSecret, algorithm: configuration.jwtAlgorithm, jwks: configuration.jwks))
        } catch {
            throw StartupError("JWT_JWKS: \(error)")
        }
        let images = try makeRenderPool(configuration)
        // Delivery targets before the backend: a file target can throw, and S3 clients made
        // before it would not be shut down (file targets are made first for the same reason).
        let targets = try Dictionary(
            uniqueKeysWithValues: (configuration.processing?.config.targets.values ?? [:].values)
                .sorted { $0.kind.isFile && !$1.kind.isFile }
                .map { ($0.name, try ConfiguredBackend.make(target: $0)) })
        // Last of what can throw: once made, an S3 backend's HTTP client must be shut down.
        let backend = try ConfiguredBackend.make(configuration, cleanups: DurableCleanupSink(database: database))
        // Ends when the migrations have run: the drainer needs its table.
        let migrated = AsyncStream<Never>.makeStream()
        let delivererReady = AsyncStream<Never>.makeStream()
        let pipelineReady = AsyncStream<Never>.makeStream()
        // The webhook step reaches the server by its public URL, or by its own address.
        let hooks = configuration.processing.map { _ in
            HTTPProcessingHooks(
                tokens: tokens,
                baseURL: configuration.publicURL.map { $0.absoluteString.hasSuffix("/") ? String($0.absoluteString.dropLast()) : $0.absoluteString }
                    ?? "http://\(configuration.host == "0.0.0.0" ? "127.0.0.1" : configuration.host):\(configuration.port)")
        }
        var processing = configuration.processing
        processing?.hooks = hooks
        processing?.targets = targets.mapValues(\.store)
        let purger = configuration.cdnPurgeEndpoint.map { HTTPCDNPurger(endpoint: $0, key: configuration.cdnPurgeKey) }
        let imageLimits = ImageTransformation.Limits(
            minimumSize: configuration.imageMinimumSize, maximumSize: configuration.imageMaximumSize)
        let service = StorageService(
            database: database, store: backend.store,
            settings: StorageSettings(
                tenantID: configuration.tenantID, uploadFileSizeLimit: configuration.uploadFileSizeLimit,
                serviceKey: keys.service, emptyBucketMaximum: configuration.emptyBucketMaximum,
                maximumConcurrentUploads: configuration.maximumConcurrentUploads,
                resumable: ResumableSettings(lifetime: .milliseconds(configuration.tusURLExpiryMilliseconds)),
                render: RenderSettings(
                    limits: imageLimits, cacheEnabled: configuration.imageCacheEnabled,
                    cacheMaximumBytes: configuration.imageCacheMaximumBytes),
                cleanupGrace: .milliseconds(configuration.cleanupGraceMilliseconds),
                events: EventSettings(enabled: configuration.eventsEnabled, source: eventSource(configuration)),
                processing: processing),
            images: images, cdn: purger)
        var metricsText: (@Sendable () -> String)?
        if configuration.metricsEnabled { metricsText = { metrics.emitToString() } }
        let api = StorageAPI(
            service: service, authenticator: Authenticator(verifier: verifier),
            tokens: tokens,
            cors: CORSPolicy(allowedOrigins: configuration.corsAllowedOrigins),
            settings: APISettings(
                signedUploadLifetime: Int64(configuration.uploadSignedURLExpirationSeconds), publicURL: configuration.publicURL,
                imageTransformation: images == nil ? nil : imageLimits,
                metricsText: metricsText, metricsToken: configuration.metricsAuthToken,
                tracing: configuration.tracingEnabled))
        let router = api.router()
        if let s3 = configuration.s3Protocol {
            S3Routes(
                service: service, authenticator: Authenticator(verifier: verifier),
                settings: S3EndpointSettings(
                    credentials: S3Credentials(
                        accessKeyID: s3.accessKeyID, secretAccessKey: s3.secretAccessKey, serviceKey: keys.service,
                        tenantID: configuration.tenantID, anonKey: configuration.anonKey),
                    region: s3.region, enforceRegion: s3.enforceRegion)
            ).register(on: router)
        }
        var application = Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: channelHandlers(configuration))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "storage-api"),
            onServerRunning: { channel in
                logger.info("listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
            },
            logger: logger)
        // Services stop in reverse order: the drainer and sweeper (which use the backend) before
        // the backend's client, everything before the database, and the span exporter last.
        if let tracing { application.addServices(tracing) }
        application.addServices(database)
        application.addServices(backend.services)
        application.addServices(targets.values.flatMap(\.services))
        if let purger { application.addServices(CDNPurgerShutdown(purger: purger)) }
        application.addServices(
            BackendCleanupDrainer(
                service: service, interval: .milliseconds(configuration.cleanupIntervalMilliseconds),
                ready: migrated.stream, logger: logger),
            ResumableUploadSweeper(
                service: service, interval: .milliseconds(configuration.tusSweepIntervalMilliseconds), logger: logger))
        if configuration.eventsEnabled, configuration.webhooks.url != nil {
            application.addServices(
                WebhookDeliverer(
                    database: database, settings: configuration.webhooks, source: eventSource(configuration),
                    ready: delivererReady.stream, logger: logger))
        }
        if let processing {
            application.addServices(
                ProcessingPipeline(
                    service: service, database: database, settings: processing, hooks: hooks, ready: pipelineReady.stream,
                    logger: logger))
        }
        if let images { application.addServices(images) }
        application.beforeServerStarts {
            try await runMigrations(database, logger: logger)
            migrated.continuation.finish()
            delivererReady.continuation.finish()
            pipelineReady.continuation.finish()
            try await backend.prepare(configuration: configuration, logger: logger)
        }
        return application
    }

    /// The tenant and region event bodies name.
    static func eventSource(_ configuration: ServerConfiguration) -> EventSource {
        EventSource(tenantID: configuration.tenantID, host: configuration.publicURL?.host ?? "", region: configuration.region)
    }

    /// Per-connection handlers after HTTP decoding: 100-continue, and the read timeout.
    static func channelHandlers(_ configuration: ServerConfiguration) -> [any RemovableChannelHandler] {
        var handlers: [any RemovableChannelHandler] = [ExpectContinueHandler()]
        if configuration.requestReadTimeoutMilliseconds > 0 {
            handlers.append(StalledRequestHandler(timeout: .milliseconds(Int64(configuration.requestReadTimeoutMilliseconds))))
        }
        return handlers
    }

    /// The image workers, or nil when image transformation is disabled.
    static func makeRenderPool(_ configuration: ServerConfiguration) throws -> RenderPool? {
        guard configuration.imageTransformationEnabled else { return nil }
        guard ImageRenderer.initialized else {
            throw StartupError("libvips did not start; install libvips, or set IMAGE_TRANSFORMATION_ENABLED=false")
        }
        return RenderPool(workers: configuration.imageWorkers, queueCapacity: configuration.imageQueueSize)
    }
}

/// Does the backend clean-ups that are due (their request died, or the backend failed), from
/// `storage_api.backend_cleanups`. Every replica runs one; claims keep them apart.
struct BackendCleanupDrainer: Service {
    let service: StorageService
    let interval: Duration
    /// Finishes once the database is migrated.
    let ready: AsyncStream<Never>
    let logger: Logger
    static let batchSize = 100

    func run() async throws {
        await cancelWhenGracefulShutdown { for await _ in ready {} }
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            guard !Task.isShuttingDownGracefully else { return }
            // Each pass logs under its own id, on its lines and on the statements and backend calls it makes.
            let logger = BackgroundJobLogger.make(logger, job: "cleanup-drainer")
            do {
                // A full batch means more may be due: go on at once.
                while try await service.drainCleanups(limit: Self.batchSize, logger: logger) == Self.batchSize,
                    !Task.isShuttingDownGracefully {}
            } catch {
                logger.warning("backend clean-up drain failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }
}

/// Settles resumable uploads in the background: removes expired ones, finishes ones whose
/// writer went away after the last byte. Every replica runs one; leases keep them apart.
struct ResumableUploadSweeper: Service {
    let service: StorageService
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            guard !Task.isShuttingDownGracefully else { return }
            await service.sweepResumableUploads(logger: BackgroundJobLogger.make(logger, job: "resumable-sweeper"))
        }
    }
}


extension PrometheusMetricsFactory {
    /// Prometheus names for the metrics Hummingbird's middleware reports under OpenTelemetry-style
    /// labels; dots become underscores elsewhere.
    static func storage(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        let names = [
            "hb.requests": "storage_http_requests_total",
            "hb.request.errors": "storage_http_request_errors_total",
            "http.server.request.duration": "storage_http_request_duration_seconds",
            "http.server.active_requests": "storage_http_active_requests",
        ]
        let labels = [
            "http.route": "route", "http.request.method": "method", "http.response.status_code": "status",
            "error.type": "status",
        ]
        factory.nameAndLabelSanitizer = { name, dimensions in
            (names[name] ?? name.replacingOccurrences(of: ".", with: "_"),
             dimensions.map { (labels[$0.0] ?? $0.0.replacingOccurrences(of: ".", with: "_"), $0.1) })
        }
        return factory
    }
}
