public import Logging
public import NIOCore
public import StorageCore

/// The backend pieces holding a resumable upload's durable bytes, in order: first the parts of
/// an S3 multipart upload, then temporary piece objects (in file mode, every byte is in pieces).
/// Kept as JSON with the upload's row.
public struct ResumablePieces: Codable, Sendable, Equatable {
    /// A temporary object holding a run of the upload's bytes.
    public struct Piece: Codable, Sendable, Equatable {
        public var key: String
        public var size: Int64
        /// Hex MD5 of the piece (file mode builds the object's ETag from these).
        public var md5: String
        /// File mode: the running MD5's saved state, so the next chunk extends this piece rather
        /// than adding one (nil in records from before it was kept, and in S3 modes).
        public var md5State: String?

        public init(key: String, size: Int64, md5: String, md5State: String? = nil) {
            self.key = key
            self.size = size
            self.md5 = md5
            self.md5State = md5State
        }
    }

    /// A part of the S3 multipart upload.
    public typealias Part = MultipartPart

    public var multipartUploadID: String?
    public var parts: [Part]
    public var pieces: [Piece]

    public init(multipartUploadID: String? = nil, parts: [Part] = [], pieces: [Piece] = []) {
        self.multipartUploadID = multipartUploadID
        self.parts = parts
        self.pieces = pieces
    }

    /// Bytes held: the upload's offset.
    public var size: Int64 { parts.reduce(0) { $0 + $1.size } + pieces.reduce(0) { $0 + $1.size } }

    /// Piece objects `self` holds that `newer` no longer does (folded into a part): they can go
    /// once `newer` is recorded.
    public func piecesDropped(by newer: ResumablePieces) -> [String] {
        let kept = Set(newer.pieces.map(\.key))
        return pieces.map(\.key).filter { !kept.contains($0) }
    }
}

/// The kinds of numbers a resumable upload hands out.
public enum ResumableNumberKind: Sendable {
    /// Names of temporary piece objects.
    case piece
    /// S3 part numbers (1…10000).
    case part
}

/// What a store needs from the upload's owner while it writes: numbers no other writer of the
/// upload will use, and a place to record progress. Both fail once the writer has been fenced out
/// (another request took the upload over), so a stale writer never records anything.
public protocol ResumableLedger: Sendable {
    func reserve(_ kind: ResumableNumberKind) async throws -> Int
    /// Records `pieces` as the upload's durable state. Pieces the previous state held and
    /// `pieces` does not are the ledger's to delete once recorded.
    func record(_ pieces: ResumablePieces) async throws
    /// Whether records wait for the chunk's checksum: then a store must not merge pieces, since a
    /// chunk dropped for its checksum must leave the committed pieces exactly as they were.
    var defersRecords: Bool { get }
}

extension ResumableLedger {
    public var defersRecords: Bool { false }
}

/// Where a resumable upload's bytes go.
public struct ResumableTarget: Sendable {
    /// The object's backend key once finished (`<tenant>/<bucket>/<name>/<version>`).
    public var objectKey: String
    /// Prefix of the upload's temporary pieces.
    public var piecePrefix: String
    public var contentType: String
    public var cacheControl: String

    public init(objectKey: String, piecePrefix: String, contentType: String, cacheControl: String) {
        self.objectKey = objectKey
        self.piecePrefix = piecePrefix
        self.contentType = contentType
        self.cacheControl = cacheControl
    }
}

/// Resumable uploads: bytes arriving in chunks over many requests, possibly on different
/// processes. Each chunk goes into pieces only its writer uses; the ledger records them.
public protocol ResumableStorage: Sendable {
    /// Writes one chunk (`length` bytes if known) after the bytes `pieces` holds, recording
    /// progress through `ledger` as bytes become durable. If the body fails, what was recorded
    /// stays recorded and the body's error is rethrown.
    func receiveChunk<Body: AsyncSequence & Sendable>(
        _ body: Body, length: Int64?, after pieces: ResumablePieces, target: ResumableTarget,
        ledger: some ResumableLedger, logger: Logger
    ) async throws -> ResumablePieces where Body.Element == ByteBuffer

    /// Writes the object from every piece. Idempotent: pieces stay until the caller deletes them,
    /// and repeating the call (after a crash, or by another process) writes the same object.
    func assemble(_ pieces: ResumablePieces, target: ResumableTarget, ledger: some ResumableLedger, logger: Logger) async throws -> ObjectInfo

    /// Removes every piece (and an S3 multipart upload, or file mode's data file), and the object
    /// if an unrecorded completion assembled it (the upload has no object row).
    func discard(_ pieces: ResumablePieces, target: ResumableTarget, logger: Logger) async throws
}
