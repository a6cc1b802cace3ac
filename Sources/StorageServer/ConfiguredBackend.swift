import FileBackend
import Foundation
import Logging
import ObjectStore
import Processing
import S3
import S3Backend
import ServiceLifecycle

/// The backend `STORAGE_MODE` selects, kept concrete here in the composition root: the use
/// cases see only `any ObjectStore`, and what is particular to one backend (the file sweep,
/// the S3 bucket check, the HTTP client's shutdown) is decided here, without downcasts.
enum ConfiguredBackend: Sendable {
    case file(FileObjectStore)
    case s3(S3ObjectStore)

    /// The backend as the use cases use it.
    var store: any ObjectStore {
        switch self {
        case .file(let store): store
        case .s3(let store): store
        }
    }

    /// The backend for `configuration`: an S3 client for the S3 modes, the directory otherwise.
    static func make(_ configuration: ServerConfiguration, cleanups: any CleanupSink) throws -> ConfiguredBackend {
        if let s3 = configuration.s3 {
            var settings = S3Configuration(
                endpoint: s3.endpoint, region: s3.region, bucket: configuration.s3Bucket, accessKey: s3.accessKey,
                secretKey: s3.secretKey, forcePathStyle: s3.forcePathStyle)
            settings.maximumConnections = s3.maximumConnections
            return .s3(S3ObjectStore(
                client: S3Client(configuration: settings), partSize: s3.partSize, cleanups: cleanups))
        }
        let root = URL(fileURLWithPath: configuration.fileStoragePath, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
        do {
            return .file(try FileObjectStore(root: root, bucket: configuration.s3Bucket))
        } catch {
            throw StartupError("FILE_STORAGE_BACKEND_PATH \(root) is not usable: \(error)")
        }
    }

    /// A processing delivery target's store: a directory, or an S3 bucket through our client.
    static func make(target: DeliveryTarget) throws -> ConfiguredBackend {
        switch target.kind {
        case .file(let directory):
            let url = URL(fileURLWithPath: directory).standardizedFileURL
            do {
                // The target's directory is the store's bucket folder; its partial files go to a
                // `.tmp` beside it, on the same file system, so a copy appears whole or not at all.
                return .file(try FileObjectStore(
                    root: url.deletingLastPathComponent().path, bucket: url.lastPathComponent))
            } catch {
                throw StartupError("PROCESSING_CONFIG targets.\(target.name): \(directory) is not usable: \(error)")
            }
        case .s3(let s3):
            return .s3(S3ObjectStore(client: S3Client(configuration: S3Configuration(
                endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, accessKey: s3.accessKeyID,
                secretKey: s3.secretAccessKey, forcePathStyle: s3.forcePathStyle))))
        }
    }

    /// Gets the backend ready before serving: sweeps abandoned partial files, or checks (and in
    /// self-hosted mode creates) the S3 bucket.
    func prepare(configuration: ServerConfiguration, logger: Logger) async throws {
        switch self {
        case .file(let store):
            let removed = try await store.sweepAbandonedTemporaryFiles(olderThan: .seconds(3600))
            if removed > 0 { logger.info("removed abandoned partial uploads", metadata: ["count": "\(removed)"]) }
        case .s3(let store):
            do {
                try await store.prepareBucket(create: configuration.storageMode == .selfHosted, logger: logger)
            } catch {
                let bucket = "S3 bucket \(configuration.s3Bucket) at \(configuration.s3?.endpoint.absoluteString ?? "")"
                let hint: String
                switch (error as? S3Error)?.status {
                case 403: hint = "; check S3_ACCESS_KEY and S3_SECRET_KEY"
                case 404: hint = "; create it, or check S3_BUCKET and S3_REGION"
                case 0: hint = "; check S3_ENDPOINT"
                default: hint = ""
                }
                throw StartupError("\(bucket) is not usable: \(error)\(hint)")
            }
        }
    }

    /// Services the backend needs beside the server (the S3 client, shut down once the server
    /// and the services registered after it have stopped).
    var services: [any Service] {
        switch self {
        case .file: []
        case .s3(let store): [S3ClientShutdown(client: store.client)]
        }
    }

    /// Releases what the backend holds, for one-shot commands that run no services.
    func shutdown() async {
        if case .s3(let store) = self { try? await store.client.shutdown() }
    }
}

/// Shuts the S3 client down once the server has stopped.
struct S3ClientShutdown: Service {
    let client: S3Client

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}

extension DeliveryTarget.Kind {
    var isFile: Bool {
        if case .file = self { return true }
        return false
    }
}
