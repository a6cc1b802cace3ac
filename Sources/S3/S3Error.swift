import Foundation

/// A failure reported by an S3 server (its XML error document), or of the transport to it.
public struct S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// The S3 error code (`NoSuchKey`, `SignatureDoesNotMatch`, …) or one of this client's own.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let noSuchKey = Code("NoSuchKey")
        public static let noSuchBucket = Code("NoSuchBucket")
        public static let noSuchUpload = Code("NoSuchUpload")
        public static let accessDenied = Code("AccessDenied")
        public static let signatureDoesNotMatch = Code("SignatureDoesNotMatch")
        public static let invalidAccessKeyID = Code("InvalidAccessKeyId")
        public static let invalidRange = Code("InvalidRange")
        public static let entityTooSmall = Code("EntityTooSmall")
        public static let slowDown = Code("SlowDown")
        public static let internalError = Code("InternalError")
        public static let bucketAlreadyOwnedByYou = Code("BucketAlreadyOwnedByYou")
        public static let bucketAlreadyExists = Code("BucketAlreadyExists")
        /// No answer: connection refused or reset, timed out, TLS failure.
        public static let unreachable = Code("Unreachable")
        /// An answer this client could not understand.
        public static let malformedResponse = Code("MalformedResponse")
    }

    public let code: Code
    public let message: String
    /// HTTP status, or 0 when the server never answered.
    public let status: Int
    public let requestID: String?
    /// The transport failure behind `unreachable` (connection refused, TLS, timeout), for the log.
    public let underlying: (any Error)?

    public init(code: Code, message: String, status: Int, requestID: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.requestID = requestID
        self.underlying = underlying
    }

    public var description: String {
        "S3 \(code) (\(status)): \(message)" + (requestID.map { " [request \($0)]" } ?? "")
            + (underlying.map { " [cause: \(String(reflecting: $0))]" } ?? "")
    }

    /// Equal when a caller would act the same: code, message and status (the request id and
    /// the cause only tell which request it was).
    public static func == (lhs: S3Error, rhs: S3Error) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.status == rhs.status
    }

    /// Whether retrying the same idempotent request may succeed.
    var isTransient: Bool {
        code == .unreachable || code == .slowDown || code == .internalError || status == 500 || status == 502
            || status == 503 || status == 504
    }

    /// Reads an `<Error>` document; falls back to the status when the body is empty (HEAD) or foreign.
    static func parse(status: Int, body: Data, requestID: String?) -> S3Error {
        if let document = XMLTree.parse(body), document.name == "Error" {
            return S3Error(
                code: Code(document.value("Code") ?? "HTTP\(status)"), message: document.value("Message") ?? "",
                status: status, requestID: document.value("RequestId") ?? requestID)
        }
        let code: Code
        switch status {
        case 404: code = .noSuchKey
        case 403: code = .accessDenied
        case 416: code = .invalidRange
        case 503: code = .slowDown
        default: code = Code("HTTP\(status)")
        }
        return S3Error(code: code, message: "HTTP \(status)", status: status, requestID: requestID)
    }
}
