/// An error with a place in the Supabase Storage error catalogue (contract §3.2).
///
/// Every failure a client can see is one of these: the HTTP layer renders it as the
/// `{statusCode, error, message, code}` envelope. `statusCode` is the *logical* status; the HTTP
/// status is derived from it (400 for almost every 4xx, a legacy quirk clients depend on).
public struct StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The machine-readable error code (`code` in the envelope).
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case noSuchBucket = "NoSuchBucket"
            case noSuchKey = "NoSuchKey"
            case noSuchUpload = "NoSuchUpload"
            case keyAlreadyExists = "KeyAlreadyExists"
            case bucketAlreadyExists = "BucketAlreadyExists"
            case resourceAlreadyExists = "ResourceAlreadyExists"
            case resourceNotEmpty = "ResourceNotEmpty"
            case resourceReferenced = "ResourceReferenced"
            case accessDenied = "AccessDenied"
            case invalidJWT = "InvalidJWT"
            case invalidSignature = "InvalidSignature"
            case expiredToken = "ExpiredToken"
            case entityTooLarge = "EntityTooLarge"
            case invalidMimeType = "InvalidMimeType"
            case invalidBucketName = "InvalidBucketName"
            case invalidKey = "InvalidKey"
            case invalidRequest = "InvalidRequest"
            case invalidParameter = "InvalidParameter"
            case invalidRange = "InvalidRange"
            case resourceLocked = "ResourceLocked"
            case lockTimeout = "LockTimeout"
            case databaseTimeout = "DatabaseTimeout"
            case databaseReadOnly = "DatabaseReadOnly"
            case databaseSchemaMismatch = "DatabaseSchemaMismatch"
            case slowDown = "SlowDown"
            case databaseError = "DatabaseError"
            case internalError = "InternalError"
            case backendError = "S3Error"
            case aborted = "Aborted"
            case tooManyRequests = "TooManyRequests"
            case notImplemented = "NotImplemented"
            case invalidUploadID = "InvalidUploadId"
            case tusError = "TusError"
            case checksumMismatch = "ChecksumMismatch"
            case objectRejected = "ObjectRejected"
            case invalidPart = "InvalidPart"
            case entityTooSmall = "EntityTooSmall"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        public var description: String { base.rawValue }

        public static let noSuchBucket = Code(.noSuchBucket)
        public static let noSuchKey = Code(.noSuchKey)
        public static let noSuchUpload = Code(.noSuchUpload)
        public static let keyAlreadyExists = Code(.keyAlreadyExists)
        public static let bucketAlreadyExists = Code(.bucketAlreadyExists)
        public static let resourceAlreadyExists = Code(.resourceAlreadyExists)
        public static let resourceNotEmpty = Code(.resourceNotEmpty)
        public static let resourceReferenced = Code(.resourceReferenced)
        public static let accessDenied = Code(.accessDenied)
        public static let invalidJWT = Code(.invalidJWT)
        public static let invalidSignature = Code(.invalidSignature)
        public static let expiredToken = Code(.expiredToken)
        public static let entityTooLarge = Code(.entityTooLarge)
        public static let invalidMimeType = Code(.invalidMimeType)
        public static let invalidBucketName = Code(.invalidBucketName)
        public static let invalidKey = Code(.invalidKey)
        public static let invalidRequest = Code(.invalidRequest)
        public static let invalidParameter = Code(.invalidParameter)
        public static let invalidRange = Code(.invalidRange)
        public static let resourceLocked = Code(.resourceLocked)
        public static let lockTimeout = Code(.lockTimeout)
        public static let databaseTimeout = Code(.databaseTimeout)
        public static let databaseReadOnly = Code(.databaseReadOnly)
        public static let databaseSchemaMismatch = Code(.databaseSchemaMismatch)
        public static let slowDown = Code(.slowDown)
        public static let databaseError = Code(.databaseError)
        public static let internalError = Code(.internalError)
        public static let backendError = Code(.backendError)
        public static let aborted = Code(.aborted)
        public static let tooManyRequests = Code(.tooManyRequests)
        public static let notImplemented = Code(.notImplemented)
        public static let invalidUploadID = Code(.invalidUploadID)
        public static let tusError = Code(.tusError)
        public static let checksumMismatch = Code(.checksumMismatch)
        public static let objectRejected = Code(.objectRejected)
        public static let invalidPart = Code(.invalidPart)
        public static let entityTooSmall = Code(.entityTooSmall)
    }

    /// The error code (`code` in the envelope).
    public let code: Code
    /// The logical status (`statusCode` in the envelope, sent as a string).
    public let statusCode: Int
    /// The legacy human tag (`error` in the envelope).
    public let error: String
    /// The human message (`message` in the envelope).
    public let message: String
    /// Set when the HTTP status is not derived from `statusCode` by the legacy rule.
    private let httpStatusOverride: Int?
    /// What caused the error (a Postgres or backend failure, with its paths and SQL), for the
    /// log only: the client sees `message`, which never carries internals.
    public private(set) var underlying: (any Error)?

    /// Whether a shared cache must not keep the answer (a row without bytes may heal shortly).
    public let forbidsCaching: Bool

    /// Only the catalogue below makes errors: every status, tag and text a client can meet is
    /// listed in this file, and callers name them.
    private init(
        code: Code, statusCode: Int, error: String? = nil, message: String, httpStatus: Int? = nil,
        forbidsCaching: Bool = false
    ) {
        self.code = code
        self.statusCode = statusCode
        self.error = error ?? code.description
        self.message = message
        self.httpStatusOverride = httpStatus
        self.forbidsCaching = forbidsCaching
    }

    /// The HTTP status to answer with: 500 for logical 500s, the explicit override where the
    /// catalogue has one, otherwise 400 — even for logical 503s (contract §3.1, QUIRK).
    public var httpStatus: Int {
        if let httpStatusOverride { return httpStatusOverride }
        return statusCode == 500 ? 500 : 400
    }

    /// The same error, remembering `cause` for the log.
    public func causedBy(_ cause: any Error) -> StorageError {
        var error = self
        error.underlying = cause
        return error
    }

    public var description: String {
        let base = "\(code) (\(statusCode)): \(message)"
        guard let underlying else { return base }
        return "\(base) [cause: \(String(reflecting: underlying))]"
    }

    /// Errors are equal when a client would see the same envelope; causes are not compared.
    public static func == (lhs: StorageError, rhs: StorageError) -> Bool {
        lhs.code == rhs.code && lhs.statusCode == rhs.statusCode && lhs.error == rhs.error && lhs.message == rhs.message
            && lhs.httpStatus == rhs.httpStatus && lhs.forbidsCaching == rhs.forbidsCaching
    }
}

// MARK: - The catalogue (contract §3.2)

extension StorageError {
    public static let noSuchBucket = StorageError(
        code: .noSuchBucket, statusCode: 404, error: "Bucket not found", message: "Bucket not found")
    public static let noSuchKey = StorageError(
        code: .noSuchKey, statusCode: 404, error: "not_found", message: "Object not found")
    /// `POST /events/:id/retry` for an id the outbox does not hold (a project route: real status).
    public static let noSuchEvent = StorageError(
        code: .noSuchKey, statusCode: 404, error: "not_found", message: "Event not found", httpStatus: 404)
    /// The events routes are the service role's (a project route: real status).
    public static let eventsForServiceRoleOnly = StorageError(
        code: .accessDenied, statusCode: 403, error: "Unauthorized", message: "Events are for the service role only",
        httpStatus: 403)
    /// A processing step refused the new version (docs/contract.md §12.3; real status).
    /// - Parameter message: `<step>: <reason>`.
    public static func objectRejected(_ message: String) -> StorageError {
        StorageError(code: .objectRejected, statusCode: 422, error: "ObjectRejected", message: message, httpStatus: 422)
    }
    /// `GET /object/status/...` for a key with no processing job the caller may see (real status).
    public static let noProcessingStatus = StorageError(
        code: .noSuchKey, statusCode: 404, error: "not_found", message: "No processing status for this object",
        httpStatus: 404)
    /// The row exists but the backend has no bytes for it.
    public static let noSuchKeyInBackend = StorageError(
        code: .noSuchKey, statusCode: 404, error: "Not found", message: "The resource was not found", forbidsCaching: true)
    public static let keyAlreadyExists = StorageError(
        code: .keyAlreadyExists, statusCode: 409, error: "Duplicate", message: "The resource already exists")
    public static let bucketAlreadyExists = StorageError(
        code: .bucketAlreadyExists, statusCode: 409, error: "Duplicate", message: "The resource already exists")
    public static let resourceAlreadyExists = StorageError(
        code: .resourceAlreadyExists, statusCode: 409, error: "Duplicate", message: "The resource already exists")
    public static let bucketNotEmpty = StorageError(
        code: .resourceNotEmpty, statusCode: 409, error: "ResourceNotEmpty",
        message: "The bucket you tried to delete is not empty")
    public static let invalidBucketName = StorageError(
        code: .invalidBucketName, statusCode: 400, error: "Invalid Input", message: "Bucket name invalid")
    public static let invalidRange = StorageError(
        code: .invalidRange, statusCode: 416, error: "invalid_range", message: "invalid range provided",
        httpStatus: 416)
    public static let resourceLocked = StorageError(
        code: .resourceLocked, statusCode: 423, error: "ResourceLocked", message: "The resource is locked")
    public static let lockTimeout = StorageError(
        code: .lockTimeout, statusCode: 503, error: "acquiring_lock_timeout", message: "acquiring lock timeout")
    public static let databaseTimeout = StorageError(
        code: .databaseTimeout, statusCode: 544, error: "DatabaseTimeout",
        message: "The connection to the database timed out", httpStatus: 544)
    public static let slowDown = StorageError(
        code: .slowDown, statusCode: 429, error: "too_many_connections",
        message: "Too many connections issued to the database", httpStatus: 429)
    public static let aborted = StorageError(
        code: .aborted, statusCode: 499, error: "Request aborted", message: "Request aborted", httpStatus: 499)
    public static let noContent = invalidRequest("No content provided")

    public static func accessDenied(_ message: String = "Access denied") -> StorageError {
        StorageError(code: .accessDenied, statusCode: 403, error: "Unauthorized", message: message)
    }

    /// Role-restricted routes answer with a real HTTP 403.
    public static func invalidRole(_ message: String = "Access denied: Invalid role") -> StorageError {
        StorageError(code: .accessDenied, statusCode: 403, error: "Unauthorized", message: message, httpStatus: 403)
    }

    public static func invalidJWT(_ message: String) -> StorageError {
        StorageError(code: .invalidJWT, statusCode: 400, message: message)
    }

    public static func invalidSignature(_ message: String = "Invalid signature") -> StorageError {
        StorageError(code: .invalidSignature, statusCode: 400, message: message)
    }

    public static let expiredToken = StorageError(
        code: .expiredToken, statusCode: 400, message: "The provided token has expired.")

    public static func entityTooLarge(
        _ message: String = "The object exceeded the maximum allowed size"
    ) -> StorageError {
        StorageError(code: .entityTooLarge, statusCode: 413, error: "Payload too large", message: message)
    }

    public static func invalidMimeType(_ mimeType: String) -> StorageError {
        StorageError(
            code: .invalidMimeType, statusCode: 415, error: "invalid_mime_type",
            message: "mime type \(mimeType) is not supported")
    }

    public static func invalidKey(_ key: String) -> StorageError {
        StorageError(code: .invalidKey, statusCode: 400, message: "Invalid key: \(key)")
    }

    public static func invalidRequest(_ message: String) -> StorageError {
        StorageError(code: .invalidRequest, statusCode: 400, message: message)
    }

    /// A request that does not match the route's schema (missing header, bad body shape):
    /// upstream's framework validation errors carry `error: "Error"`.
    public static func validation(_ message: String) -> StorageError {
        StorageError(code: .invalidRequest, statusCode: 400, error: "Error", message: message)
    }

    public static func invalidParameter(_ message: String) -> StorageError {
        StorageError(code: .invalidParameter, statusCode: 400, message: message)
    }

    /// Unknown route under one of the storage prefixes (contract §3.1): a real 404.
    public static func routeNotFound(method: String, url: String) -> StorageError {
        StorageError(
            code: .invalidRequest, statusCode: 404, error: "Not Found",
            message: "Route \(method):\(url) not found", httpStatus: 404)
    }

    public static func payloadTooLarge(_ message: String = "Request body is too large") -> StorageError {
        StorageError(code: .entityTooLarge, statusCode: 413, error: "Payload Too Large", message: message, httpStatus: 413)
    }

    public static func databaseError(_ message: String) -> StorageError {
        StorageError(code: .databaseError, statusCode: 500, error: "internal", message: message)
    }

    public static func databaseReadOnly(_ message: String = "The database is in read-only mode") -> StorageError {
        StorageError(code: .databaseReadOnly, statusCode: 503, error: "DatabaseReadOnly", message: message)
    }

    public static func databaseSchemaMismatch(_ message: String) -> StorageError {
        StorageError(code: .databaseSchemaMismatch, statusCode: 503, error: "DatabaseSchemaMismatch", message: message)
    }

    public static func resourceReferenced(_ message: String = "The resource is still referenced") -> StorageError {
        StorageError(code: .resourceReferenced, statusCode: 409, error: "ResourceReferenced", message: message)
    }

    public static func relatedResourceMissing() -> StorageError {
        StorageError(
            code: .noSuchKey, statusCode: 404, error: "not_found", message: "The related resource does not exist")
    }

    public static func internalError(_ message: String = "Internal Server Error") -> StorageError {
        StorageError(code: .internalError, statusCode: 500, error: "internal", message: message)
    }

    public static func backendError(_ message: String) -> StorageError {
        StorageError(code: .backendError, statusCode: 500, error: "internal", message: message)
    }

    /// A resumable upload that would need more parts (or waiting pieces) than the backend allows.
    public static let tooManyParts = StorageError(
        code: .entityTooLarge, statusCode: 413, error: "Payload too large",
        message: "The upload needs more parts than the backend allows; send larger chunks")

    /// A bucket `type` other than `STANDARD` (analytics and vector buckets are not served here).
    public static func bucketTypeNotSupported(_ type: String) -> StorageError {
        StorageError(
            code: .invalidRequest, statusCode: 400, error: "FeatureNotEnabled",
            message: "Bucket type \(type) is not supported by this server")
    }

    /// Emptying a bucket is bounded (`EMPTY_BUCKET_MAX`); larger buckets are emptied by deleting objects.
    public static let bucketTooLargeToEmpty = StorageError(
        code: .invalidRequest, statusCode: 409, error: "InvalidRequest",
        message: "Unable to empty the bucket because it contains too many objects")

    /// `/metrics` with `METRICS_AUTH_TOKEN` set and no (or the wrong) bearer token.
    public static let metricsTokenRequired = StorageError(
        code: .accessDenied, statusCode: 401, error: "Unauthorized", message: "A valid metrics token is required",
        httpStatus: 401)

    /// An `X-Robots-Tag` header this server will not store.
    public static func invalidRobotsTag(_ reason: String) -> StorageError {
        StorageError(
            code: .invalidRequest, statusCode: 400, error: "invalid_x_robots_tag",
            message: "Invalid X-Robots-Tag header: \(reason)")
    }

    /// A framework-level HTTP failure (a body over the framework's limit, a malformed request line).
    public static func http(status: Int, reason: String) -> StorageError {
        StorageError(code: .invalidRequest, statusCode: status, error: reason, message: reason, httpStatus: status)
    }

    /// A failure nothing above mapped: the client hears only that it was internal.
    public static let unhandled = StorageError(
        code: .internalError, statusCode: 500, error: "Internal", message: "Internal Server Error")

    // Renders (contract §5.10).
    public static let sourceImageUnsupported = StorageError(
        code: .invalidRequest, statusCode: 400, error: "InvalidRequest",
        message: "The source image is invalid or unsupported for rendering")
    public static let sourceImageTooLarge = StorageError(
        code: .invalidRequest, statusCode: 400, error: "InvalidRequest",
        message: "The source image resolution is too large to process")
    public static let sourceFileTooLarge = StorageError(
        code: .invalidRequest, statusCode: 400, error: "InvalidRequest",
        message: "The source image is larger than the upload size limit and cannot be rendered")
    public static let renderingDisabled = StorageError(
        code: .invalidRequest, statusCode: 400, error: "InvalidRequest", message: "Image transformation is not enabled")

    public static func tooManyRequests(_ message: String) -> StorageError {
        StorageError(code: .tooManyRequests, statusCode: 429, error: "too_many_requests", message: message, httpStatus: 429)
    }

    /// An `/s3` multipart upload that does not exist (never created, completed or aborted).
    public static let noSuchUpload = StorageError(
        code: .noSuchUpload, statusCode: 404, message: "The specified multipart upload does not exist.", httpStatus: 404)

    /// A completion naming a part other than the last that is smaller than 5 MiB.
    public static let entityTooSmall = StorageError(
        code: .entityTooSmall, statusCode: 400, message: "Your proposed upload is smaller than the minimum allowed object size.")

    /// A completion naming a part that was not uploaded, with another ETag, or out of order.
    public static func invalidPart(_ message: String) -> StorageError {
        StorageError(code: .invalidPart, statusCode: 400, message: message)
    }

    public static func invalidUploadID(_ message: String = "Invalid upload id") -> StorageError {
        StorageError(code: .invalidUploadID, statusCode: 400, message: message)
    }

    /// A TUS protocol failure: TUS routes answer with this real status and the message as text.
    public static func tus(_ status: Int, _ message: String) -> StorageError {
        StorageError(code: .tusError, statusCode: status, message: message, httpStatus: status)
    }
}
