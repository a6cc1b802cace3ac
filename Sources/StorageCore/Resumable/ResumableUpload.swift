#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// How long an upload will be, as declared at creation.
public enum UploadLength: Sendable, Equatable {
    case known(Int64)
    /// `Upload-Defer-Length: 1`: the length comes with a later PATCH.
    case deferred
}

/// The TUS protocol state of one upload, as a plain value: each request is checked against it
/// and yields the next state. The service loads it from Postgres, performs the I/O the checks
/// allow, and stores what comes out; nothing here touches a socket, a disk or a clock.
public struct ResumableUpload: Sendable, Equatable {
    /// Where an upload is in its life.
    public enum Phase: Sendable, Equatable {
        /// Waiting for bytes.
        case receiving
        /// Every byte is durable; the object is being (or must still be) written.
        case assembling
        /// The object row exists.
        case completed
    }

    /// The declared length; `nil` while deferred.
    public private(set) var length: Int64?
    /// Bytes durably received.
    public private(set) var offset: Int64
    /// The most this upload may grow to (the bucket's and the global limit).
    public let sizeLimit: Int64
    public let expiresAt: Date
    public private(set) var isCompleted: Bool

    public init(length: Int64?, offset: Int64, sizeLimit: Int64, expiresAt: Date, isCompleted: Bool) {
        self.length = length
        self.offset = offset
        self.sizeLimit = sizeLimit
        self.expiresAt = expiresAt
        self.isCompleted = isCompleted
    }

    public var phase: Phase {
        if isCompleted { return .completed }
        return length == offset ? .assembling : .receiving
    }

    /// A new upload (POST). A declared length over the limit is refused before anything exists.
    public static func create(length: UploadLength, sizeLimit: Int64, expiresAt: Date) throws(StorageError) -> ResumableUpload {
        var declared: Int64?
        if case .known(let value) = length {
            guard value <= sizeLimit else { throw TusErrors.maxSizeExceeded }
            declared = value
        }
        return ResumableUpload(length: declared, offset: 0, sizeLimit: sizeLimit, expiresAt: expiresAt, isCompleted: false)
    }

    /// Whether the upload's URL is past its life at `now` (finished or not, as tus-node-server
    /// judges it: the row is swept soon after).
    public func isExpired(at now: Date) -> Bool {
        now >= expiresAt
    }

    /// HEAD and the JSON progress route: the upload as it stands, or 410 once expired.
    public func status(at now: Date) throws(StorageError) -> ResumableUpload {
        if isExpired(at: now) { throw TusErrors.gone }
        return self
    }

    /// What a PATCH may do, decided before any byte is read.
    public struct PatchPlan: Sendable, Equatable {
        /// The length after this PATCH (set now if it was deferred), or `nil` if still deferred.
        public var length: Int64?
        /// Most bytes the body may carry: up to the length, or the size limit while deferred.
        public var maximumBytes: Int64
        /// The body's exact size when the request declared it.
        public var declaredBytes: Int64?

        /// Throws unless a body of `count` bytes fits: the one size rule of a PATCH, applied to
        /// its declared length before reading, to the bytes as they are read, and to what is
        /// recorded. Compared without adding: `count` may be the client's number, near Int64.max.
        public func checkBody(_ count: Int64) throws(StorageError) {
            guard count <= maximumBytes else { throw length == nil ? TusErrors.maxSizeExceeded : TusErrors.sizeExceeded }
        }
    }

    /// Checks a PATCH at `offset` carrying `contentLength` bytes (if declared) and, for deferred
    /// uploads, possibly `uploadLength`.
    public func checkPatch(
        offset requested: Int64, uploadLength: Int64?, contentLength: Int64?, at now: Date
    ) throws(StorageError) -> PatchPlan {
        if isExpired(at: now) { throw TusErrors.gone }
        guard requested == offset else { throw TusErrors.offsetConflict }
        var length = self.length
        if let uploadLength {
            // Declared once: a repeat is refused even with the same value.
            guard length == nil, uploadLength >= offset else { throw TusErrors.invalidLength }
            guard uploadLength <= sizeLimit else { throw TusErrors.maxSizeExceeded }
            length = uploadLength
        }
        let plan = PatchPlan(length: length, maximumBytes: (length ?? sizeLimit) - offset, declaredBytes: contentLength)
        if let contentLength { try plan.checkBody(contentLength) }
        return plan
    }

    /// Records bytes that are now durable, under the length `plan` settled.
    public mutating func received(_ count: Int64, plan: PatchPlan) throws(StorageError) {
        precondition(count >= 0)
        try plan.checkBody(count)
        length = plan.length ?? length
        offset += count
    }

    /// The object row is written.
    public mutating func markCompleted() {
        precondition(length == offset, "only an upload with every byte can complete")
        isCompleted = true
    }

    /// DELETE: only unfinished uploads can be terminated.
    public func checkTermination() throws(StorageError) {
        if isCompleted { throw TusErrors.finishedTermination }
    }

    /// Percentage received, for the JSON progress route; `nil` while the length is deferred.
    public var percent: Double? {
        guard let length else { return nil }
        return length == 0 ? 100 : (Double(offset) / Double(length) * 100)
    }
}

/// The TUS failures, with the statuses and texts of tus-node-server 2.4 (what Supabase's
/// clients meet), plus this server's checksum and lock answers.
public enum TusErrors {
    public static let missingVersion = StorageError.tus(412, "Tus-Resumable Required\n")
    public static let invalidLength = StorageError.tus(400, "Upload-Length or Upload-Defer-Length header required\n")
    public static let missingOffset = StorageError.tus(403, "Upload-Offset header required\n")
    public static let missingContentType = StorageError.tus(403, "Content-Type header required\n")
    public static let metadataRequired = StorageError.invalidRequest("Metadata header is required")
    public static let notFound = StorageError.tus(404, "The file for this url was not found\n")
    public static let gone = StorageError.tus(410, "The file for this url no longer exists\n")
    public static let offsetConflict = StorageError.tus(409, "Upload-Offset conflict\n")
    public static let sizeExceeded = StorageError.tus(413, "upload's size exceeded\n")
    public static let maxSizeExceeded = StorageError.tus(413, "Maximum size exceeded\n")
    public static let finishedTermination = StorageError.tus(400, "Cannot terminate an already completed upload")
    public static let released = StorageError.tus(400, "Request aborted due to lock acquired")
    public static let locked = StorageError.tus(423, "The upload is in use by another request; retry shortly\n")
    public static let checksumMismatch = StorageError.tus(460, "Checksum Mismatch\n")
    public static let unsupportedChecksum = StorageError.tus(400, "Unsupported checksum algorithm\n")
    public static let missingSignature = StorageError.invalidSignature("Missing x-signature header")
    public static let methodNotAllowed = StorageError.tus(405, "Method Not Allowed\n")

    /// A header whose value is malformed (`Invalid upload-length\n`).
    public static func invalidHeader(_ name: String) -> StorageError {
        StorageError.tus(400, "Invalid \(name)\n")
    }
}
