import Auth
public import Database
import Foundation
public import Logging
public import ObjectStore
import StorageCore
public import ImageTransform

/// Settings the use cases need.
public struct StorageSettings: Sendable {
    /// First segment of every backend key (`TENANT_ID`).
    public var tenantID: String
    /// The global object size limit (`UPLOAD_FILE_SIZE_LIMIT`).
    public var uploadFileSizeLimit: Int64
    /// The service-role key, the JWT of the "superuser" identity (contract §2.2).
    public var serviceKey: String
    /// Most objects `POST /bucket/:id/empty` removes (`STORAGE_EMPTY_BUCKET_MAX`).
    public var emptyBucketMaximum: Int
    public var resumable: ResumableSettings
    public var render: RenderSettings
    /// Uploads streaming at once before new ones are refused with 429; 0 = no cap.
    public var maximumConcurrentUploads: Int
    /// How long a request has to remove the bytes it freed before a drainer may
    /// (`BACKEND_CLEANUP_GRACE_MS`).
    public var cleanupGrace: Duration
    /// Whether changes write events to the outbox (`EVENTS_ENABLED`), and who they say sent them.
    public var events: EventSettings
    /// `PROCESSING_CONFIG` and its settings; nil when unset (every version is committed at once).
    public var processing: ProcessingSettings?

    public init(
        tenantID: String, uploadFileSizeLimit: Int64, serviceKey: String, emptyBucketMaximum: Int = 200_000,
        maximumConcurrentUploads: Int = 0,
        resumable: ResumableSettings = ResumableSettings(), render: RenderSettings = RenderSettings(),
        cleanupGrace: Duration = .seconds(10), events: EventSettings? = nil, processing: ProcessingSettings? = nil
    ) {
        self.processing = processing
        self.events = events ?? EventSettings(source: EventSource(tenantID: tenantID, host: "", region: "us-east-1"))
        self.maximumConcurrentUploads = maximumConcurrentUploads
        self.cleanupGrace = cleanupGrace
        self.render = render
        self.tenantID = tenantID
        self.uploadFileSizeLimit = uploadFileSizeLimit
        self.serviceKey = serviceKey
        self.emptyBucketMaximum = emptyBucketMaximum
        self.resumable = resumable
    }
}

/// The storage use cases: buckets, uploads, downloads, listing, copy, move and delete.
///
/// Each use case keeps contract §7's order of operations: authorization (row-level security, as the
/// caller) before any byte is written, bytes durable before their row is committed, and new
/// bytes removed again whenever the row is not written.
public struct StorageService: Sendable {
    let database: StorageDatabase
    let store: any ObjectStore
    let settings: StorageSettings
    let janitor: BackendJanitor
    /// The image workers; nil when image transformation is disabled.
    let images: RenderPool?
    let uploads: UploadGate
    /// Shared by the uploads waiting for their steps and this replica's pipeline; nil without processing.
    let processing: ProcessingRuntime?
    /// The CDN a cache purge also reaches (`CDN_PURGE_ENDPOINT_URL`); nil when there is none.
    let cdn: (any CDNPurger)?

    /// The service keeps no logger of its own: each use case logs on the logger it is given
    /// (the request's, via `Caller`, or a background job's), so every line carries that id.
    public init(
        database: StorageDatabase, store: any ObjectStore, settings: StorageSettings,
        images: RenderPool? = nil, cdn: (any CDNPurger)? = nil
    ) {
        self.cdn = cdn
        self.janitor = BackendJanitor(
            database: database, store: store, sink: DurableCleanupSink(database: database),
            grace: settings.cleanupGrace)
        self.images = images
        self.uploads = UploadGate(maximum: settings.maximumConcurrentUploads)
        self.processing = settings.processing.map(ProcessingRuntime.init)
        self.database = database
        self.store = store
        self.settings = settings
    }

    /// The global size limit, for routes that report it.
    public var uploadFileSizeLimit: Int64 { settings.uploadFileSizeLimit }

    /// The session of the "superuser" steps of a caller's request (contract §2.3).
    func superuser(_ caller: Caller, _ operation: StorageOperation) -> DatabaseSession {
        caller.session(operation).asServiceRole(serviceKey: settings.serviceKey)
    }

    /// `<tenant>/<bucket>/<name>/<version>` (contract §7.1); legacy rows without a version have none.
    func backendKey(bucketID: String, name: String, version: String?) -> String {
        let base = "\(settings.tenantID)/\(bucketID)/\(name)"
        return version.map { "\(base)/\($0)" } ?? base
    }

    func backendKey(_ object: ObjectRecord) -> String {
        backendKey(bucketID: object.bucketID, name: object.name, version: object.version)
    }

    /// The largest object `name` may be in `bucket` (contract §6.3); placeholders must be empty.
    func sizeLimit(for bucket: Bucket, name: String) -> Int64 {
        if ObjectKey.isFolderPlaceholder(name) { return 0 }
        return min(settings.uploadFileSizeLimit, bucket.fileSizeLimit ?? .max)
    }

    /// Translates a backend failure into the catalogue; storage errors pass through.
    func backendFailure(_ error: any Error, name: String) -> any Error {
        guard let error = error as? ObjectStoreError else { return error }
        // A missing object or a key the backend refuses is the request's problem, not the backend's.
        if error.code != .notFound, error.code != .invalidKey, error.code != .tooManyParts {
            ServiceMetrics.backendError(store.backendName)
        }
        // The backend's own words (paths, host names) go to the log through the cause only.
        switch error.code {
        case .notFound: return StorageError.noSuchKeyInBackend.causedBy(error)
        case .invalidKey: return StorageError.invalidKey(name).causedBy(error)
        case .noSpace: return StorageError.backendError("The storage backend is out of space").causedBy(error)
        case .tooManyParts:
            return StorageError.tooManyParts.causedBy(error)
        case .unavailable: return StorageError.backendError("The storage backend is unavailable").causedBy(error)
        default: return StorageError.backendError("The storage backend failed").causedBy(error)
        }
    }

    /// Checks Postgres and the backend for `/health`: the failing part in a few words (the
    /// detail, with its paths and hosts, is logged).
    public func health(logger: Logger) async -> (database: String?, storage: String?) {
        async let databaseProblem: String? = {
            do {
                try await database.ping(logger: logger)
                return nil
            } catch {
                logger.warning("health check: the database failed", metadata: ["error": "\(String(reflecting: error))"])
                return "database does not answer"
            }
        }()
        async let storageProblem: String? = {
            do {
                try await store.checkHealth(logger: logger)
                return nil
            } catch {
                logger.warning("health check: the storage backend failed", metadata: ["error": "\(String(reflecting: error))"])
                return "\(store.backendName) backend does not answer"
            }
        }()
        return await (databaseProblem, storageProblem)
    }
}
