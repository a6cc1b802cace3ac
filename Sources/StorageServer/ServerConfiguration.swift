public import Foundation
public import Database
public import Logging
public import Events
import Processing
public import StorageService

/// Where object bytes are kept (`STORAGE_MODE`).
public enum StorageMode: String, Sendable {
    /// A local or shared directory (`FILE_STORAGE_BACKEND_PATH`).
    case file
    /// MinIO or SeaweedFS, path-style addressing.
    case selfHosted = "self-hosted"
    /// AWS S3, Hetzner Object Storage, Backblaze B2.
    case cloud
}

/// Everything the server reads from its environment (contract §10 and §12.1).
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var database: DatabaseConfiguration
    public var jwtSecret: String
    public var jwtAlgorithm: String
    public var jwks: String?
    /// `SERVICE_KEY` / `ANON_KEY` when given; otherwise minted from the secret.
    public var serviceKey: String?
    public var anonKey: String?
    public var storageMode: StorageMode
    public var fileStoragePath: String
    public var s3Bucket: String
    /// The S3 backend (`self-hosted` and `cloud` modes).
    public var s3: S3Settings?
    public var tenantID: String
    public var uploadFileSizeLimit: Int64
    public var imageTransformationEnabled: Bool
    /// Clamp for render widths and heights.
    public var imageMinimumSize: Int
    public var imageMaximumSize: Int
    /// Image worker threads and how many requests may wait for one.
    public var imageWorkers: Int
    public var imageQueueSize: Int
    /// Whether rendered variants are kept in the backend.
    public var imageCacheEnabled: Bool
    /// The most bytes of rendered variants kept (`IMAGE_TRANSFORMATION_CACHE_MAX_BYTES`).
    public var imageCacheMaximumBytes: Int64
    public var corsAllowedOrigins: [String]
    public var uploadSignedURLExpirationSeconds: Int
    public var tusURLExpiryMilliseconds: Int64
    /// How often expired resumable uploads are swept (`TUS_SWEEP_INTERVAL_MS`).
    public var tusSweepIntervalMilliseconds: Int64
    /// Scheme and host of resumable upload URLs, instead of the request's (`STORAGE_PUBLIC_URL`).
    public var publicURL: URL?
    public var emptyBucketMaximum: Int
    /// Milliseconds a client may stay silent mid-request (or idle between requests); 0 disables.
    public var requestReadTimeoutMilliseconds: Int
    /// Uploads streaming at once before new ones get 429; 0 = no cap.
    public var maximumConcurrentUploads: Int
    /// The bearer token `GET /metrics` requires (`METRICS_AUTH_TOKEN`); nil: open.
    public var metricsAuthToken: String?
    /// Whether metrics are collected and `GET /metrics` answers (`PROMETHEUS_METRICS_ENABLED`).
    public var metricsEnabled: Bool = true
    /// Whether spans are recorded and exported over OTLP/HTTP (`TRACING_ENABLED`); the exporter
    /// reads the standard `OTEL_*` variables itself.
    public var tracingEnabled: Bool = false
    /// The CDN a cache purge is forwarded to (`CDN_PURGE_ENDPOINT_URL`, POST `<url>/purge`) and
    /// the bearer key it takes (`CDN_PURGE_ENDPOINT_KEY`); nil: purges stay local.
    public var cdnPurgeEndpoint: URL? = nil
    public var cdnPurgeKey: String? = nil
    /// How long a request has to remove bytes it freed before a drainer may (`BACKEND_CLEANUP_GRACE_MS`).
    public var cleanupGraceMilliseconds: Int
    /// How often the drainer looks for due clean-ups (`BACKEND_CLEANUP_INTERVAL_MS`).
    public var cleanupIntervalMilliseconds: Int
    public var logLevel: Logger.Level
    /// Whether changes write events to the outbox (`EVENTS_ENABLED`).
    public var eventsEnabled: Bool
    /// The region event bodies name (`REGION`).
    public var region: String
    /// Delivery of the outbox (`WEBHOOK_*`, `EVENTS_RETENTION_HOURS`).
    public var webhooks: WebhookSettings
    /// `PROCESSING_CONFIG`, read and validated, and its settings; nil when unset.
    public var processing: ProcessingSettings?
    /// The `/s3` endpoint (`S3_PROTOCOL_*`); nil when `S3_PROTOCOL_ENABLED=false`.
    public var s3Protocol: S3ProtocolSettings?

    /// What a command needs: `migrate` only the database, `keys` only the secret.
    public enum Purpose: Sendable { case serve, migrate, keys }

    /// Every variable, for `--help`.
    public static let documentation = """
        Configuration comes from the environment (upstream names in parentheses are accepted too):
          PORT (SERVER_PORT)                     listen port, default 5000
          HOST (SERVER_HOST)                     listen address, default 0.0.0.0
          DATABASE_URL                           postgres://user:password@host:port/db (required)
          DATABASE_POOL_URL                      a transaction-pooling proxy (PgBouncer, Supavisor) for queries;
                                                 migrations and LISTEN keep using DATABASE_URL
          DATABASE_MAX_CONNECTIONS               connection pool size, default 20
          DATABASE_STATEMENT_TIMEOUT             milliseconds, default 30000
          DATABASE_CONNECTION_TIMEOUT            milliseconds to wait for a pooled connection, default 3000
          AUTH_JWT_SECRET (PGRST_JWT_SECRET)     HS secret for user JWTs and URL tokens (required)
          AUTH_JWT_ALGORITHM (PGRST_JWT_ALGORITHM)  HS256 (default), HS384 or HS512
          JWT_JWKS                               JWKS JSON adding RS/ES/EdDSA/HS keys
          SERVICE_KEY, ANON_KEY                  keys to use instead of ones minted from the secret
          STORAGE_MODE                           file (default), self-hosted or cloud
          FILE_STORAGE_BACKEND_PATH (STORAGE_FILE_BACKEND_PATH)  file-mode root, default ./data/storage
          S3_BUCKET (STORAGE_S3_BUCKET, GLOBAL_S3_BUCKET)  backend bucket; in file mode a sub-folder, default stub
          S3_ENDPOINT (STORAGE_S3_ENDPOINT)      S3 service URL (self-hosted: required; cloud: default AWS for S3_REGION)
          S3_ACCESS_KEY (AWS_ACCESS_KEY_ID), S3_SECRET_KEY (AWS_SECRET_ACCESS_KEY)  S3 credentials
          S3_REGION (STORAGE_S3_REGION, REGION)  signing region, default us-east-1
          S3_FORCE_PATH_STYLE                    path-style addressing, default true (self-hosted) / false (cloud)
          S3_UPLOAD_PART_SIZE (STORAGE_S3_UPLOAD_PART_SIZE)  multipart part size in bytes, default 16777216 (min 5242880)
          S3_MAX_CONNECTIONS (STORAGE_S3_MAX_SOCKETS)  connections kept to the S3 service, default 64
          TENANT_ID (PROJECT_REF)                first segment of backend keys, default storage-single-tenant
          UPLOAD_FILE_SIZE_LIMIT (FILE_SIZE_LIMIT)  global object size limit in bytes, default 52428800
          IMAGE_TRANSFORMATION_ENABLED (ENABLE_IMAGE_TRANSFORMATION)  true (default) or false
          IMAGE_TRANSFORMATION_LIMIT_MIN_SIZE, IMAGE_TRANSFORMATION_LIMIT_MAX_SIZE  width/height clamp, default 1 and 2000
          IMAGE_TRANSFORMATION_WORKERS           image worker threads, default the number of cores
          IMAGE_TRANSFORMATION_QUEUE_SIZE        renders that may wait for a worker before 429, default 32
          IMAGE_TRANSFORMATION_CACHE_ENABLED     keep rendered variants in the backend, default true
          IMAGE_TRANSFORMATION_CACHE_MAX_BYTES   most bytes of variants kept (least recently used evicted), default 1073741824
          CORS_ALLOWED_ORIGINS                   comma-separated origins, default *
          UPLOAD_SIGNED_URL_EXPIRATION_TIME (SIGNED_UPLOAD_URL_EXPIRATION_TIME)  seconds, default 7200
          TUS_URL_EXPIRY_MS                      resumable upload lifetime from creation, default 86400000
          TUS_SWEEP_INTERVAL_MS                  how often expired resumable uploads are removed, default 60000
          STORAGE_PUBLIC_URL                     scheme and host for resumable upload URLs, e.g. https://storage.example.com
          STORAGE_EMPTY_BUCKET_MAX               most objects POST /bucket/:id/empty removes, default 200000
          REQUEST_READ_TIMEOUT_MS                close connections silent this long mid-request or idle, default 30000 (0: never)
          MAX_CONCURRENT_UPLOADS                 uploads streaming at once before 429, default 512 (0: no cap)
          METRICS_AUTH_TOKEN                     bearer token GET /metrics requires, default none (open)
          PROMETHEUS_METRICS_ENABLED             collect metrics and serve GET /metrics, default true
          TRACING_ENABLED                        record OpenTelemetry spans, exported over OTLP/HTTP, default false
          OTEL_EXPORTER_OTLP_ENDPOINT            where spans go (with TRACING_ENABLED), default http://localhost:4318; also the other OTEL_* variables
          CDN_PURGE_ENDPOINT_URL                 CDN purges are POSTed to <url>/purge, default none (purges stay local)
          CDN_PURGE_ENDPOINT_KEY                 sent as Authorization: Bearer <key> with each purge, default none
          BACKEND_CLEANUP_GRACE_MS               time a request has to remove freed bytes before any replica's drainer may, default 10000
          BACKEND_CLEANUP_INTERVAL_MS            how often the drainer looks for due clean-ups, default 2000
          LOG_LEVEL                              trace, debug, info (default), notice, warning, error, critical
          EVENTS_ENABLED                         write an event for every change (the outbox), default true
          REGION                                 region named in event bodies, default S3_REGION or us-east-1
          WEBHOOK_URL                            where events are POSTed, default none (events recorded, not sent)
          WEBHOOK_API_KEY                        sent as Authorization: Bearer <key>, default none
          WEBHOOK_SIGNING_SECRET                 Standard Webhooks secret (whsec_<base64> or any text) for webhook-signature
          WEBHOOK_TIMEOUT_MS                     one delivery attempt at most, default 5000
          WEBHOOK_MAX_ATTEMPTS                   attempts per event, the first included, before it is failed, default 10
          WEBHOOK_BACKOFF_MS                     wait after the first failure, doubling to at most 60 s, with jitter, default 1000
          WEBHOOK_QUEUE_PULL_INTERVAL            ms between looks for due events besides notifications, default 1000
          WEBHOOK_MAX_CONNECTIONS                deliveries in flight per replica, default 8
          EVENTS_RETENTION_HOURS                 how long delivered events are kept, default 72
          S3_PROTOCOL_ENABLED                    serve the S3 protocol at /s3 and /storage/v1/s3, default true
          S3_PROTOCOL_ACCESS_KEY_ID, S3_PROTOCOL_ACCESS_KEY_SECRET  the key pair that acts as the service role on /s3;
                                                 unset: only session-token mode (TENANT_ID, ANON_KEY, a user JWT)
          S3_PROTOCOL_ENFORCE_REGION             refuse /s3 requests not signed for S3_REGION, default false
          PROCESSING_CONFIG                      YAML or JSON file of per-bucket steps and delivery targets; unset: none
          PROCESSING_WAIT_MS                     how long an upload waits for its steps before it answers 202, default 30000
          PROCESSING_CONCURRENCY                 processing jobs one replica runs at once, default 4
          PROCESSING_LEASE_MS                    how long a replica's claim on a job lasts unrenewed (a dead replica's
                                                 jobs wait this long for another), default 30000
        """

    /// Reads and validates the environment. Throws one error naming the first bad variable.
    public static func fromEnvironment(
        _ environment: [String: String], for purpose: Purpose = .serve
    ) throws(ConfigurationError) -> ServerConfiguration {
        let reader = EnvironmentReader(environment)
        let needsDatabase = purpose != .keys
        let needsSecret = purpose != .migrate

        let databaseURL = reader.string("DATABASE_URL")
        var database = DatabaseConfiguration(host: "localhost", username: "postgres", password: nil, database: nil)
        if needsDatabase {
            guard let databaseURL, !databaseURL.isEmpty else {
                throw ConfigurationError(variable: "DATABASE_URL", problem: "is required")
            }
            do {
                database = try DatabaseConfiguration(url: databaseURL)
            } catch {
                throw ConfigurationError(variable: "DATABASE_URL", problem: error.description)
            }
            if let poolURL = reader.string("DATABASE_POOL_URL"), !poolURL.isEmpty {
                do {
                    database.pooler = try DatabaseAddress(url: poolURL)
                } catch {
                    throw ConfigurationError(variable: "DATABASE_POOL_URL", problem: error.description)
                }
            }
            database.maximumConnections = try reader.integer("DATABASE_MAX_CONNECTIONS", default: 20, in: 1...1000)
            database.statementTimeoutMilliseconds = try reader.integer(
                "DATABASE_STATEMENT_TIMEOUT", default: 30_000, in: 0...86_400_000)
            // How long a request waits for a pooled connection before 544 DatabaseTimeout.
            database.acquireTimeout = .milliseconds(
                try reader.integer("DATABASE_CONNECTION_TIMEOUT", default: 3_000, in: 1...600_000))
        }
        let secret = reader.string("AUTH_JWT_SECRET", "PGRST_JWT_SECRET") ?? ""
        if needsSecret, secret.isEmpty {
            throw ConfigurationError(variable: "AUTH_JWT_SECRET", problem: "is required")
        }
        let algorithm = reader.string("AUTH_JWT_ALGORITHM", "PGRST_JWT_ALGORITHM") ?? "HS256"
        guard ["HS256", "HS384", "HS512"].contains(algorithm) else {
            throw ConfigurationError(variable: "AUTH_JWT_ALGORITHM", problem: "must be HS256, HS384 or HS512")
        }
        let modeText = reader.string("STORAGE_MODE") ?? "file"
        guard let mode = StorageMode(rawValue: modeText) else {
            throw ConfigurationError(variable: "STORAGE_MODE", problem: "must be file, self-hosted or cloud, not \(modeText)")
        }
        let levelText = (reader.string("LOG_LEVEL") ?? "info").lowercased()
        guard let level = Logger.Level(rawValue: levelText) else {
            throw ConfigurationError(variable: "LOG_LEVEL", problem: "must be trace, debug, info, notice, warning, error or critical")
        }
        let origins = (reader.string("CORS_ALLOWED_ORIGINS") ?? "*")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let tenant = reader.string("TENANT_ID", "PROJECT_REF") ?? "storage-single-tenant"
        guard !tenant.isEmpty, !tenant.contains("/"), tenant != ".", tenant != ".." else {
            throw ConfigurationError(variable: "TENANT_ID", problem: "must be a non-empty name without '/'")
        }
        let bucket = reader.string("S3_BUCKET", "STORAGE_S3_BUCKET", "GLOBAL_S3_BUCKET") ?? (mode == .file ? "stub" : "")
        if mode == .file, bucket.isEmpty || bucket.contains("/") || bucket.hasPrefix(".") {
            throw ConfigurationError(variable: "S3_BUCKET", problem: "must be a folder name without '/' that does not start with '.'")
        }
        let s3 = mode == .file || purpose != .serve ? nil : try Self.s3Settings(reader, mode: mode, bucket: bucket)
        let publicURL = try reader.httpURL("STORAGE_PUBLIC_URL")
        let webhookURL = try reader.httpURL("WEBHOOK_URL")
        let retentionHours = try reader.integer("EVENTS_RETENTION_HOURS", default: 72, in: 1...87_600)
        let webhooks = WebhookSettings(
            url: webhookURL, apiKey: reader.string("WEBHOOK_API_KEY").flatMap { $0.isEmpty ? nil : $0 },
            signingSecret: reader.string("WEBHOOK_SIGNING_SECRET").flatMap { $0.isEmpty ? nil : $0 },
            timeout: .milliseconds(try reader.integer("WEBHOOK_TIMEOUT_MS", default: 5000, in: 100...600_000)),
            policy: DeliveryPolicy(
                maximumAttempts: try reader.integer("WEBHOOK_MAX_ATTEMPTS", default: 10, in: 1...1000),
                initialBackoff: .milliseconds(try reader.integer("WEBHOOK_BACKOFF_MS", default: 1000, in: 1...3_600_000))),
            pollInterval: .milliseconds(try reader.integer("WEBHOOK_QUEUE_PULL_INTERVAL", default: 1000, in: 50...3_600_000)),
            retention: .seconds(3600 * retentionHours),
            concurrency: try reader.integer("WEBHOOK_MAX_CONNECTIONS", default: 8, in: 1...500))

        var processing: ProcessingSettings?
        if purpose == .serve, let path = reader.string("PROCESSING_CONFIG") {
            do {
                processing = ProcessingSettings(
                    config: try ProcessingConfig.load(path: path, environment: environment),
                    wait: .milliseconds(try reader.integer("PROCESSING_WAIT_MS", default: 30_000, in: 0...3_600_000)),
                    lease: .milliseconds(try reader.integer("PROCESSING_LEASE_MS", default: 30_000, in: 300...3_600_000)),
                    concurrency: try reader.integer("PROCESSING_CONCURRENCY", default: 4, in: 1...256))
            } catch let error as ProcessingConfigError {
                throw ConfigurationError(
                    variable: "PROCESSING_CONFIG", problem: (error.path.isEmpty ? "" : "\(error.path): ") + error.message)
            } catch let error as ConfigurationError {
                throw error
            } catch {
                throw ConfigurationError(variable: "PROCESSING_CONFIG", problem: "\(error)")
            }
        }

        let minimumSize = try reader.integer(
            "IMAGE_TRANSFORMATION_LIMIT_MIN_SIZE", "IMG_LIMITS_MIN_SIZE", default: 1, in: 1...10_000)

        return ServerConfiguration(
            host: reader.string("HOST", "SERVER_HOST") ?? "0.0.0.0",
            port: try reader.integer("PORT", "SERVER_PORT", default: 5000, in: 0...65535),
            database: database,
            jwtSecret: secret,
            jwtAlgorithm: algorithm,
            jwks: reader.string("JWT_JWKS").flatMap { $0.isEmpty ? nil : $0 },
            serviceKey: reader.string("SERVICE_KEY").flatMap { $0.isEmpty ? nil : $0 },
            anonKey: reader.string("ANON_KEY").flatMap { $0.isEmpty ? nil : $0 },
            storageMode: mode,
            fileStoragePath: reader.string("FILE_STORAGE_BACKEND_PATH", "STORAGE_FILE_BACKEND_PATH") ?? "./data/storage",
            s3Bucket: bucket,
            s3: s3,
            tenantID: tenant,
            uploadFileSizeLimit: Int64(
                try reader.integer("UPLOAD_FILE_SIZE_LIMIT", "FILE_SIZE_LIMIT", default: 52_428_800, in: 0...Int.max)),
            imageTransformationEnabled: try reader.boolean(
                "IMAGE_TRANSFORMATION_ENABLED", "ENABLE_IMAGE_TRANSFORMATION", default: true),
            imageMinimumSize: minimumSize,
            imageMaximumSize: try reader.integer(
                "IMAGE_TRANSFORMATION_LIMIT_MAX_SIZE", "IMG_LIMITS_MAX_SIZE", default: 2000, in: minimumSize...10_000),
            imageWorkers: try reader.integer(
                "IMAGE_TRANSFORMATION_WORKERS", default: ProcessInfo.processInfo.activeProcessorCount, in: 1...256),
            imageQueueSize: try reader.integer("IMAGE_TRANSFORMATION_QUEUE_SIZE", default: 32, in: 0...100_000),
            imageCacheEnabled: try reader.boolean("IMAGE_TRANSFORMATION_CACHE_ENABLED", default: true),
            imageCacheMaximumBytes: Int64(
                try reader.integer("IMAGE_TRANSFORMATION_CACHE_MAX_BYTES", default: 1 << 30, in: 1...Int.max)),
            corsAllowedOrigins: origins.isEmpty ? ["*"] : origins,
            uploadSignedURLExpirationSeconds: try reader.integer(
                "UPLOAD_SIGNED_URL_EXPIRATION_TIME", "SIGNED_UPLOAD_URL_EXPIRATION_TIME", default: 7200, in: 1...31_536_000),
            tusURLExpiryMilliseconds: Int64(
                try reader.integer("TUS_URL_EXPIRY_MS", default: 86_400_000, in: 1000...Int.max)),
            tusSweepIntervalMilliseconds: Int64(
                try reader.integer("TUS_SWEEP_INTERVAL_MS", default: 60_000, in: 100...86_400_000)),
            publicURL: publicURL,
            emptyBucketMaximum: try reader.integer("STORAGE_EMPTY_BUCKET_MAX", default: 200_000, in: 1...Int.max),
            requestReadTimeoutMilliseconds: try reader.integer("REQUEST_READ_TIMEOUT_MS", default: 30_000, in: 0...86_400_000),
            maximumConcurrentUploads: try reader.integer("MAX_CONCURRENT_UPLOADS", default: 512, in: 0...1_000_000),
            metricsAuthToken: reader.string("METRICS_AUTH_TOKEN"),
            metricsEnabled: try reader.boolean("PROMETHEUS_METRICS_ENABLED", default: true),
            tracingEnabled: try reader.boolean("TRACING_ENABLED", default: false),
            cdnPurgeEndpoint: try reader.httpURL("CDN_PURGE_ENDPOINT_URL"),
            cdnPurgeKey: reader.string("CDN_PURGE_ENDPOINT_KEY"),
            cleanupGraceMilliseconds: try reader.integer("BACKEND_CLEANUP_GRACE_MS", default: 10_000, in: 0...86_400_000),
            cleanupIntervalMilliseconds: try reader.integer("BACKEND_CLEANUP_INTERVAL_MS", default: 2000, in: 50...3_600_000),
            logLevel: level,
            eventsEnabled: try reader.boolean("EVENTS_ENABLED", default: true),
            region: reader.string("REGION", "S3_REGION", "STORAGE_S3_REGION") ?? "us-east-1",
            webhooks: webhooks,
            processing: processing,
            s3Protocol: try s3ProtocolSettings(reader))
    }

    /// `S3_PROTOCOL_*`: nil when the endpoint is off. The key pair comes whole or not at all.
    static func s3ProtocolSettings(_ reader: EnvironmentReader) throws(ConfigurationError) -> S3ProtocolSettings? {
        guard try reader.boolean("S3_PROTOCOL_ENABLED", default: true) else { return nil }
        let accessKeyID = reader.string("S3_PROTOCOL_ACCESS_KEY_ID")
        let secretAccessKey = reader.string("S3_PROTOCOL_ACCESS_KEY_SECRET")
        if (accessKeyID == nil) != (secretAccessKey == nil) {
            throw ConfigurationError(
                variable: accessKeyID == nil ? "S3_PROTOCOL_ACCESS_KEY_ID" : "S3_PROTOCOL_ACCESS_KEY_SECRET",
                problem: "is required when \(accessKeyID == nil ? "S3_PROTOCOL_ACCESS_KEY_SECRET" : "S3_PROTOCOL_ACCESS_KEY_ID") is set")
        }
        return S3ProtocolSettings(
            accessKeyID: accessKeyID, secretAccessKey: secretAccessKey,
            region: reader.string("S3_REGION", "STORAGE_S3_REGION", "REGION") ?? "us-east-1",
            enforceRegion: try reader.boolean("S3_PROTOCOL_ENFORCE_REGION", default: false))
    }
}

/// The `/s3` endpoint's settings.
public struct S3ProtocolSettings: Sendable, Equatable {
    public var accessKeyID: String?
    public var secretAccessKey: String?
    /// The signing region (`S3_REGION`).
    public var region: String
    public var enforceRegion: Bool
}

/// The S3 backend's settings.
public struct S3Settings: Sendable, Equatable {
    public var endpoint: URL
    public var accessKey: String
    public var secretKey: String
    public var region: String
    public var forcePathStyle: Bool
    public var partSize: Int
    public var maximumConnections: Int
}

extension ServerConfiguration {
    static func s3Settings(_ reader: EnvironmentReader, mode: StorageMode, bucket: String) throws(ConfigurationError) -> S3Settings {
        guard !bucket.isEmpty else {
            throw ConfigurationError(variable: "S3_BUCKET", problem: "is required when STORAGE_MODE is \(mode.rawValue)")
        }
        let region = reader.string("S3_REGION", "STORAGE_S3_REGION", "REGION") ?? "us-east-1"
        let endpointText = reader.string("S3_ENDPOINT", "STORAGE_S3_ENDPOINT", "GLOBAL_S3_ENDPOINT")
            ?? (mode == .cloud ? "https://s3.\(region).amazonaws.com" : nil)
        guard let endpointText else {
            throw ConfigurationError(variable: "S3_ENDPOINT", problem: "is required when STORAGE_MODE is self-hosted")
        }
        guard let endpoint = URL(string: endpointText), let scheme = endpoint.scheme, scheme == "http" || scheme == "https",
            endpoint.host != nil, endpoint.path.isEmpty || endpoint.path == "/"
        else {
            throw ConfigurationError(variable: "S3_ENDPOINT", problem: "must be a URL like https://host[:port], not \(endpointText)")
        }
        if mode == .cloud, scheme != "https" {
            throw ConfigurationError(variable: "S3_ENDPOINT", problem: "must use https in cloud mode")
        }
        guard let accessKey = reader.string("S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID") else {
            throw ConfigurationError(variable: "S3_ACCESS_KEY", problem: "is required when STORAGE_MODE is \(mode.rawValue)")
        }
        guard let secretKey = reader.string("S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY") else {
            throw ConfigurationError(variable: "S3_SECRET_KEY", problem: "is required when STORAGE_MODE is \(mode.rawValue)")
        }
        return S3Settings(
            endpoint: endpoint, accessKey: accessKey, secretKey: secretKey, region: region,
            forcePathStyle: try reader.boolean("S3_FORCE_PATH_STYLE", "STORAGE_S3_FORCE_PATH_STYLE", default: mode == .selfHosted),
            partSize: try reader.integer(
                "S3_UPLOAD_PART_SIZE", "STORAGE_S3_UPLOAD_PART_SIZE", default: 16 << 20, in: (5 << 20)...(5 << 30)),
            maximumConnections: try reader.integer("S3_MAX_CONNECTIONS", "STORAGE_S3_MAX_SOCKETS", default: 64, in: 1...10_000))
    }
}

/// A missing or invalid setting; its description is the single line printed at start-up.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let variable: String
    public let problem: String
    public var description: String { "configuration error: \(variable) \(problem)" }
}

/// Reads variables by name, accepting aliases (first non-empty wins).
struct EnvironmentReader {
    let environment: [String: String]

    init(_ environment: [String: String]) { self.environment = environment }

    func string(_ names: String...) -> String? {
        for name in names {
            if let value = environment[name], !value.isEmpty { return value }
        }
        return nil
    }

    func integer(_ names: String..., default defaultValue: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let (name, text) = first(names) else { return defaultValue }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
            throw ConfigurationError(variable: name, problem: "must be a whole number in \(range.lowerBound)...\(range.upperBound), not \(text)")
        }
        return value
    }

    func boolean(_ names: String..., default defaultValue: Bool) throws(ConfigurationError) -> Bool {
        guard let (name, text) = first(names) else { return defaultValue }
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw ConfigurationError(variable: name, problem: "must be true or false, not \(text)")
        }
    }

    /// An absolute http(s) URL, or nil when unset.
    func httpURL(_ name: String) throws(ConfigurationError) -> URL? {
        guard let text = string(name) else { return nil }
        guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw ConfigurationError(variable: name, problem: "must be an http(s) URL, not \(text)")
        }
        return url
    }

    private func first(_ names: [String]) -> (String, String)? {
        for name in names {
            if let value = environment[name], !value.isEmpty { return (name, value) }
        }
        return nil
    }
}
