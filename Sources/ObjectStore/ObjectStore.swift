#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Logging
public import NIOCore
public import StorageCore

/// What a backend knows about one stored object.
public struct ObjectInfo: Sendable, Equatable {
    /// Size in bytes.
    public var size: Int64
    /// Quoted entity tag (`"<md5 hex>"` for single-part writes).
    public var eTag: String
    public var lastModified: Date
    public var contentType: String?
    public var cacheControl: String?

    public init(size: Int64, eTag: String, lastModified: Date, contentType: String?, cacheControl: String?) {
        self.size = size
        self.eTag = eTag
        self.lastModified = lastModified
        self.contentType = contentType
        self.cacheControl = cacheControl
    }
}

/// Conditions a read is evaluated against (`If-None-Match`, `If-Modified-Since`, `Range`).
public struct ReadConditions: Sendable, Equatable {
    public var range: ByteRangeRequest?
    public var ifNoneMatch: String?
    public var ifModifiedSince: Date?

    public init(range: ByteRangeRequest? = nil, ifNoneMatch: String? = nil, ifModifiedSince: Date? = nil) {
        self.range = range
        self.ifNoneMatch = ifNoneMatch
        self.ifModifiedSince = ifModifiedSince
    }

    /// Whether a client holding a copy matching these conditions already has `info` (answer 304).
    public func isNotModified(_ info: ObjectInfo) -> Bool {
        if let ifNoneMatch {
            return ifNoneMatch.split(separator: ",").contains { (candidate: Substring) in
                let tag = String(candidate.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
                return tag == "*" || Self.weakCompare(tag, info.eTag)
            }
        }
        if let ifModifiedSince {
            return info.lastModified.timeIntervalSince1970.rounded(.down)
                <= ifModifiedSince.timeIntervalSince1970
        }
        return false
    }

    private static func weakCompare(_ lhs: String, _ rhs: String) -> Bool {
        func strip(_ tag: String) -> Substring {
            var tag = Substring(tag)
            if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
            if tag.count >= 2, tag.first == "\"", tag.last == "\"" { tag = tag.dropFirst().dropLast() }
            return tag
        }
        return strip(lhs) == strip(rhs)
    }
}

/// The outcome of a read: which part of the object the body carries.
public enum ReadOutcome: Sendable, Equatable {
    /// The whole object (200).
    case whole
    /// A byte range of it (206).
    case partial(ClosedRange<Int64>)
    /// The client's copy is current (304); the body is empty.
    case notModified
    /// The requested range lies outside the object (416); the body is empty.
    case rangeNotSatisfiable
}

/// A read in progress: metadata known, bytes streamed on demand.
public struct ObjectContent: Sendable {
    public var info: ObjectInfo
    public var outcome: ReadOutcome
    public var body: ByteStream

    public init(info: ObjectInfo, outcome: ReadOutcome, body: ByteStream) {
        self.info = info
        self.outcome = outcome
        self.body = body
    }

    /// Number of bytes the body yields.
    public var contentLength: Int64 {
        switch outcome {
        case .whole: info.size
        case .partial(let range): range.upperBound - range.lowerBound + 1
        case .notModified, .rangeNotSatisfiable: 0
        }
    }
}

/// Where object bytes live. Implementations stream in both directions and never hold a whole
/// object in memory.
///
/// Keys are opaque `/`-separated strings (`<tenant>/<bucket>/<name>/<version>`, contract §7.1).
/// Writes are atomic: a key is either absent or holds complete bytes.
public protocol ObjectStore: ResumableStorage, MultipartStorage {
    /// Stores the bytes of `body` under `key`, replacing nothing (keys are fresh versions).
    /// If `body` throws, nothing is left behind and the error is rethrown unchanged.
    func putObject<Body: AsyncSequence & Sendable>(
        _ key: String, body: Body, contentLength: Int64?, contentType: String, cacheControl: String, logger: Logger
    ) async throws -> ObjectInfo where Body.Element == ByteBuffer

    /// Opens `key` for reading under `conditions`. Throws `ObjectStoreError.notFound` when absent.
    func getObject(_ key: String, conditions: ReadConditions, logger: Logger) async throws -> ObjectContent

    /// Metadata of `key`. Throws `ObjectStoreError.notFound` when absent.
    func headObject(_ key: String, logger: Logger) async throws -> ObjectInfo

    /// Deletes every key given; absent keys are not an error.
    func deleteObjects(_ keys: [String], logger: Logger) async throws

    /// Deletes every key under `prefix` + `/` (derived files of one object version).
    func deleteObjects(under prefix: String, logger: Logger) async throws

    /// Copies `source` to `destination` inside the backend, optionally replacing content type and
    /// cache control. Throws `ObjectStoreError.notFound` when the source is absent.
    func copyObject(
        from source: String, to destination: String, contentType: String?, cacheControl: String?, logger: Logger
    ) async throws -> ObjectInfo

    /// Throws when the backend cannot serve requests (used by `/health`).
    func checkHealth(logger: Logger) async throws

    /// Does one durable clean-up. Idempotent: it may run again after a crash, or on two replicas.
    func perform(_ cleanup: BackendCleanup, logger: Logger) async throws

    /// Calls `visit` with the keys under `prefix` + `/`, a batch at a time (at most `batchSize`
    /// each, any order); memory stays bounded whatever the number of keys.
    func listKeys(
        under prefix: String, batchSize: Int, logger: Logger, _ visit: ([StoredKey]) async throws -> Void
    ) async throws

    /// Throws `invalidKey` when this backend cannot store `key` (every write checks it too), so
    /// work that records a key before writing it can refuse early.
    func checkKey(_ key: String) throws(ObjectStoreError)

    /// A short name for logs and `/health` (`file`, `s3`).
    var backendName: String { get }
}

/// Errors an `ObjectStore` reports.
public struct ObjectStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case notFound, invalidKey, noSpace, unavailable, io, busy, tooManyParts, invalidPart
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        /// The key does not exist.
        public static let notFound = Code(.notFound)
        /// The key cannot be stored by this backend (unsafe path, name too long).
        public static let invalidKey = Code(.invalidKey)
        /// The backend is out of space.
        public static let noSpace = Code(.noSpace)
        /// The backend cannot be reached.
        public static let unavailable = Code(.unavailable)
        /// Another writer holds the resource (a resumable upload's data file).
        public static let busy = Code(.busy)
        /// A resumable upload would need more than S3's 10 000 parts, or keep too many small pieces waiting.
        public static let tooManyParts = Code(.tooManyParts)
        /// A multipart completion named a part the backend does not hold as named (another
        /// upload of that number replaced it, or S3 refused the list).
        public static let invalidPart = Code(.invalidPart)
        /// Any other failure.
        public static let io = Code(.io)
    }

    public let code: Code
    public let message: String
    /// The failure underneath (the S3 client's error, a system call's), for the log.
    public let underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        "\(code): \(message)" + (underlying.map { " [cause: \(String(reflecting: $0))]" } ?? "")
    }

    /// Equal when code and message are; causes are not compared.
    public static func == (lhs: ObjectStoreError, rhs: ObjectStoreError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }
}
