import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3
import S3Protocol
import StorageCore

/// An `/s3` error: the S3 `<Code>`, HTTP status and message of the XML error document.
struct S3Failure: Error, Sendable, CustomStringConvertible {
    var code: String
    var status: Int
    var message: String
    /// What caused it, for the log only.
    var cause: (any Error)?

    init(code: String, status: Int, message: String, cause: (any Error)? = nil) {
        self.code = code
        self.status = status
        self.message = message
        self.cause = cause
    }

    var description: String { "\(code) (\(status)): \(message)" + (cause.map { " [cause: \(String(reflecting: $0))]" } ?? "") }

    static func invalidArgument(_ message: String) -> S3Failure { S3Failure(code: "InvalidArgument", status: 400, message: message) }
    static let notImplemented = S3Failure(code: "NotImplemented", status: 501, message: "A header or query you provided implies functionality that is not implemented.")
    static let malformedXML = S3Failure(
        code: "MalformedXML", status: 400, message: "The XML you provided was not well-formed or did not validate against our published schema.")
    static let missingContentLength = S3Failure(code: "MissingContentLength", status: 411, message: "You must provide the Content-Length HTTP header.")

    /// Any error in S3 terms: the protocol's own, the catalogue's mapped to the S3 codes clients
    /// know, anything else an InternalError (its detail stays in the log).
    static func from(_ error: any Error) -> S3Failure {
        if let error = error as? S3Failure { return error }
        if let error = error as? any S3ErrorDescribing {
            return S3Failure(code: error.s3Code, status: error.httpStatus, message: error.message, cause: error)
        }
        guard let error = error as? StorageError else {
            return S3Failure(code: "InternalError", status: 500, message: "We encountered an internal error. Please try again.", cause: error)
        }
        let (code, status): (String, Int) = switch error.code {
        case .noSuchBucket: ("NoSuchBucket", 404)
        case .noSuchKey: ("NoSuchKey", 404)
        case .noSuchUpload: ("NoSuchUpload", 404)
        case .bucketAlreadyExists, .resourceAlreadyExists: ("BucketAlreadyExists", 409)
        case .keyAlreadyExists: ("KeyAlreadyExists", 409)
        case .resourceNotEmpty: ("BucketNotEmpty", 409)
        case .accessDenied, .invalidJWT, .invalidSignature, .expiredToken: ("AccessDenied", 403)
        case .entityTooLarge: ("EntityTooLarge", 413)
        case .invalidMimeType: ("InvalidRequest", 415)
        case .invalidBucketName: ("InvalidBucketName", 400)
        case .invalidKey: ("InvalidKey", 400)
        case .invalidRange: ("InvalidRange", 416)
        case .invalidPart: ("InvalidPart", 400)
        case .entityTooSmall: ("EntityTooSmall", 400)
        case .invalidParameter: ("InvalidArgument", 400)
        case .slowDown, .tooManyRequests: ("SlowDown", 503)
        case .notImplemented: ("NotImplemented", 501)
        // No S3 code says "a check refused these bytes": the REST API's code and status.
        case .objectRejected: ("ObjectRejected", 422)
        case .lockTimeout, .resourceLocked: ("OperationAborted", 409)
        default: error.httpStatus >= 500 ? ("InternalError", 500) : ("InvalidRequest", 400)
        }
        return S3Failure(code: code, status: status, message: error.message, cause: error)
    }

    /// The XML error document (no body for HEAD, as S3 answers).
    func response(resource: String, requestID: String, head: Bool) -> Response {
        var xml = S3XML()
        xml.open("Error", namespace: false)
        xml.element("Code", code)
        xml.element("Message", message)
        xml.element("Resource", resource)
        xml.element("RequestId", requestID)
        xml.close("Error")
        var response = xml.response(status: HTTPResponse.Status(code: status))
        if head { response.body = ResponseBody() }
        return response
    }
}

/// Writes S3's XML response documents straight into the response's bytes (a listing page has
/// thousands of elements: no intermediate strings).
struct S3XML {
    private(set) var buffer: ByteBuffer

    init() {
        buffer = ByteBuffer()
        buffer.reserveCapacity(4096)
        buffer.writeString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
    }

    mutating func open(_ name: String, namespace: Bool = true) {
        buffer.writeString(namespace ? "<\(name) xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" : "<\(name)>")
    }

    mutating func close(_ name: String) {
        buffer.writeString("</\(name)>")
    }

    /// `<name>value</name>`, the value escaped (and first percent-encoded when `urlEncoded`, as
    /// `encoding-type=url` asks).
    mutating func element(_ name: String, _ value: String, urlEncoded: Bool = false) {
        buffer.writeString("<\(name)>")
        text(urlEncoded ? SigV4Signer.encode(value, keepSlash: true) : value)
        buffer.writeString("</\(name)>")
    }

    mutating func element(_ name: String, _ value: some BinaryInteger) { element(name, String(value)) }

    mutating func element(_ name: String, _ value: Bool) { element(name, value ? "true" : "false") }

    mutating func element(_ name: String, _ value: Date) { element(name, S3XML.timestamp(value)) }

    /// Character data, escaped byte by byte.
    mutating func text(_ value: String) {
        var value = value
        value.withUTF8 { bytes in
            var start = 0
            for index in bytes.indices {
                let entity: StaticString
                switch bytes[index] {
                case UInt8(ascii: "&"): entity = "&amp;"
                case UInt8(ascii: "<"): entity = "&lt;"
                case UInt8(ascii: ">"): entity = "&gt;"
                case UInt8(ascii: "\""): entity = "&quot;"
                case UInt8(ascii: "'"): entity = "&apos;"
                default: continue
                }
                buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[start..<index]))
                buffer.writeStaticString(entity)
                start = index + 1
            }
            buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[start...]))
        }
    }

    /// S3's timestamps: ISO 8601 with milliseconds, UTC (the metadata's own format).
    static func timestamp(_ date: Date) -> String { Timestamp.iso8601(date) }

    func response(status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/xml"
        headers[.contentLength] = String(buffer.readableBytes)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: buffer))
    }
}
