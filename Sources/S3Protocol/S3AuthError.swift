/// Why a request to the S3 endpoint is not authenticated, as the S3 error it is answered with:
/// the XML `<Code>`, the HTTP status and a message saying what to fix.
public struct S3AuthError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Code: Sendable, Equatable {
        case missing, unsupported, malformed, malformedQuery, unknownAccessKey, signatureMismatch, skewed, expired
    }

    let code: Code
    /// Says what was wrong, for the `<Message>` element.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The S3 error code (`<Code>`), as AWS names it.
    public var s3Code: String {
        switch code {
        case .missing, .expired: "AccessDenied"
        case .unsupported: "InvalidArgument"
        case .malformed: "AuthorizationHeaderMalformed"
        case .malformedQuery: "AuthorizationQueryParametersError"
        case .unknownAccessKey: "InvalidAccessKeyId"
        case .signatureMismatch: "SignatureDoesNotMatch"
        case .skewed: "RequestTimeTooSkewed"
        }
    }

    /// The status AWS answers it with: 400 for a request that cannot be read, 403 for one that is
    /// read and refused.
    public var httpStatus: Int {
        switch code {
        case .unsupported, .malformed, .malformedQuery: 400
        case .missing, .expired, .unknownAccessKey, .signatureMismatch, .skewed: 403
        }
    }

    public var description: String { "\(s3Code): \(message)" }
}
