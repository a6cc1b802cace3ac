import HTTPTypes
import Hummingbird
import NIOCore
import StorageCore

/// How a route group answers failures.
enum ErrorStyle: Sendable {
    /// The Supabase JSON envelope at the catalogue's HTTP status (400 for most 4xx, a legacy quirk).
    case envelope
    /// TUS clients read the real status and a plain-text reason (tus-node-server's answers).
    case tusText
}

/// A failure of the TUS protocol routes: rendered as TUS text, not as the envelope. The routes
/// wrap what they throw once their JWT is checked (a bad JWT still gets the envelope).
struct TusFailure: Error {
    let error: StorageError
}

/// The one place errors become responses.
enum ErrorRenderer {
    /// `error` in `style`, with `headers` a route adds (`WWW-Authenticate`, a `Content-Range`).
    static func response(_ error: StorageError, style: ErrorStyle, headers extra: HTTPFields = [:]) -> Response {
        switch style {
        case .envelope:
            var headers = extra
            if error.forbidsCaching { headers[.cacheControl] = "no-store" }
            return Responses.json(error.envelope, status: HTTPResponse.Status(code: error.httpStatus), headers: headers)
        case .tusText:
            var headers = TusRoutes.protocolHeaders
            headers.append(contentsOf: extra)
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(
                status: HTTPResponse.Status(code: error.statusCode), headers: headers,
                body: ResponseBody(byteBuffer: ByteBuffer(string: error.message)))
        }
    }

    /// Unknown routes: the storage envelope under the API prefixes, the framework shape elsewhere.
    static func notFound(_ request: Request) -> Response {
        let relative = StoragePath.relative(request.uri.path)
        let url = String(relative) + (request.uri.query.map { "?" + $0 } ?? "")
        let storagePrefixes = ["/bucket", "/object", "/render/image", "/cdn", "/vector"]
        if storagePrefixes.contains(where: { relative == $0 || relative.hasPrefix($0 + "/") }) {
            return response(StorageError.routeNotFound(method: request.method.rawValue, url: url), style: .envelope)
        }
        return Responses.json(
            .object([
                ("message", .string("Route \(request.method.rawValue):\(url) not found")), ("error", .string("Not Found")),
                ("statusCode", .integer(404)),
            ]),
            status: .notFound)
    }
}
