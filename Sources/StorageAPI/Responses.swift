import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore
public import ObjectStore
public import StorageCore
import WireFormats

extension HTTPField.Name {
    static let xUpsert = Self("x-upsert")!
    static let xMetadata = Self("x-metadata")!
    static let xRobotsTag = Self("x-robots-tag")!
    /// `hit` or `miss`: whether a rendered variant came from the cache.
    static let xRenderCache = Self("X-Render-Cache")!
    static let xRequestID = Self("x-request-id")!
    static let xClientInfo = Self("x-client-info")!
    static let xTransformations = Self("x-transformations")!
    static let xForwardedProto = Self("x-forwarded-proto")!
    static let xForwardedHost = Self("x-forwarded-host")!
    static let xForwardedPrefix = Self("x-forwarded-prefix")!
    static let prefer = Self("prefer")!
}

/// Response shapes the routes share.
public enum Responses {
    /// A body streamed from the backend (or a rendered buffer) with its known length.
    public static func streaming(_ body: ByteStream, length: Int64) -> ResponseBody {
        ResponseBody(contentLength: Int(length)) { writer in
            for try await chunk in body { try await writer.write(chunk) }
            try await writer.finish(nil)
        }
    }

    /// A JSON response with an exact Content-Length.
    /// `document` as the response body; `capacity` is a guess of its size in bytes.
    static func json(
        _ document: JSONOutput, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], capacity: Int = 4096
    ) -> Response {
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        let body = ByteBuffer(bytes: document.bytes(reservingCapacity: capacity))
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
    }

    /// The answer of an upload to a processed bucket whose steps still run (docs/contract.md
    /// §12.3): 202, `Location` of the status resource under the prefix the request came by.
    static func processing(bucket: String, key: String, request: Request) -> Response {
        let prefix = request.uri.path.hasPrefix(StoragePath.mountPrefix + "/") ? StoragePath.mountPrefix : ""
        let location = "\(prefix)/object/status/\(bucket)/\(key.split(separator: "/", omittingEmptySubsequences: false).map { DownloadResponse.encodeURIComponent(String($0)) }.joined(separator: "/"))"
        return json(
            .object([("Key", .string("\(bucket)/\(key)")), ("state", .string("pending")), ("status", .string(location))]),
            status: .accepted, headers: [.location: location])
    }

    /// `{"message": text}`.
    static func message(_ text: String) -> Response {
        json(.object([("message", .string(text))]))
    }
}

/// Storage errors render as the Supabase envelope (contract §3.1), keys in upstream's order.
extension StorageError: HTTPResponseError {
    public var status: HTTPResponse.Status { HTTPResponse.Status(code: httpStatus) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        ErrorRenderer.response(self, style: .envelope)
    }

    var envelope: JSONOutput {
        .object([
            ("statusCode", .string(String(statusCode))),
            ("error", .string(error)),
            ("message", .string(message)),
            ("code", .string(code.description)),
        ])
    }
}
