import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import StorageCore

/// The outermost layer of every request: request id, CORS, and the guarantee that every error
/// leaves as a Supabase envelope (spec §3) — never an empty 500.
struct EnvelopeMiddleware: RouterMiddleware {
    typealias Context = StorageRequestContext

    let cors: CORSPolicy
    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.requestID = request.headers[.xRequestID].flatMap { $0.count <= 200 ? $0 : nil } ?? UUID().uuidString.lowercased()
        let started = ContinuousClock.now

        var response: Response
        if request.method == .options, let preflight = cors.preflight(request) {
            response = preflight
        } else {
            do {
                response = try await next(request, context)
            } catch {
                response = errorResponse(error, request: request, context: context)
            }
        }
        if request.method == .head { response.body = ResponseBody() }
        cors.decorate(&response, request: request)
        response.headers[.xRequestID] = context.requestID
        // Objects are served from the API's own origin: no browser may sniff them into HTML or
        // run what they contain (an uploaded SVG or XHTML page would otherwise be stored XSS).
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.contentSecurityPolicy] = "sandbox"

        let elapsed = ContinuousClock.now - started
        logger.info(
            "request",
            metadata: [
                "request_id": .string(context.requestID),
                "method": .string(request.method.rawValue),
                // The path only: signed URLs carry their token in the query.
                "path": .string(String(StoragePath.relative(request.uri.path))),
                "status": .stringConvertible(response.status.code),
                "duration_ms": .stringConvertible(
                    Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15),
            ])
        return response
    }

    private func errorResponse(_ error: any Error, request: Request, context: Context) -> Response {
        let storageError: StorageError
        switch error {
        case let error as StorageError:
            storageError = error
        case let error as HTTPError where error.status == .notFound:
            return notFound(request)
        case let error as any HTTPResponseError:
            storageError = StorageError(
                code: .invalidRequest, statusCode: Int(error.status.code), error: error.status.reasonPhrase,
                message: error.status.reasonPhrase, httpStatus: Int(error.status.code))
        default:
            logger.error(
                "unhandled error", metadata: ["request_id": .string(context.requestID), "error": .string(String(reflecting: error))])
            storageError = StorageError(
                code: .internalError, statusCode: 500, error: "Internal", message: "Internal Server Error")
        }
        if storageError.statusCode >= 500 {
            logger.error(
                "request failed",
                metadata: ["request_id": .string(context.requestID), "code": .string(storageError.code.description),
                           "error": .string(storageError.message),
                           "cause": .string(storageError.underlying.map { String(reflecting: $0) } ?? "")])
        } else if let cause = storageError.underlying {
            // The client heard the catalogue's words; the detail behind them is for operators.
            logger.info(
                "request refused",
                metadata: ["request_id": .string(context.requestID), "code": .string(storageError.code.description),
                           "cause": .string(String(reflecting: cause))])
        }
        // Envelope rendering cannot fail; the fallback only satisfies the signature.
        return (try? storageError.response(from: request, context: context)) ?? Response(status: .internalServerError)
    }

    /// Unknown routes: the storage envelope under the API prefixes, the framework shape elsewhere.
    private func notFound(_ request: Request) -> Response {
        let relative = StoragePath.relative(request.uri.path)
        let url = String(relative) + (request.uri.query.map { "?" + $0 } ?? "")
        let message = "Route \(request.method.rawValue):\(url) not found"
        let storagePrefixes = ["/bucket", "/object", "/render/image", "/cdn", "/vector"]
        if storagePrefixes.contains(where: { relative == $0 || relative.hasPrefix($0 + "/") }) {
            return Responses.json(
                StorageError.routeNotFound(method: request.method.rawValue, url: url).envelope, status: .notFound)
        }
        return Responses.json(
            .object([("message", .string(message)), ("error", .string("Not Found")), ("statusCode", .integer(404))]),
            status: .notFound)
    }
}

/// Cross-origin rules (decisions.md): browsers call storage directly through supabase-js.
public struct CORSPolicy: Sendable {
    let allowedOrigins: [String]

    static let allowedHeaders =
        "authorization, apikey, x-client-info, content-type, cache-control, x-upsert, x-metadata, x-signature, "
        + "tus-resumable, upload-length, upload-offset, upload-metadata, upload-checksum, upload-defer-length, "
        + "upload-concat, upload-expires, range, if-none-match, if-modified-since, x-request-id, x-robots-tag"
    static let exposedHeaders =
        "location, upload-offset, upload-length, upload-expires, upload-defer-length, upload-metadata, tus-resumable, "
        + "tus-version, tus-extension, tus-max-size, tus-checksum-algorithm, tus-complete, etag, content-range, content-disposition, content-length, content-type, "
        + "cache-control, last-modified, expires, x-request-id, x-transformations, accept-ranges"
    static let allowedMethods = "GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS"

    public init(allowedOrigins: [String]) {
        self.allowedOrigins = allowedOrigins
    }

    private func allowOrigin(for origin: String) -> String? {
        if allowedOrigins.contains("*") { return "*" }
        return allowedOrigins.contains(origin) ? origin : nil
    }

    /// A preflight answer, or nil when the request is not a CORS preflight.
    func preflight(_ request: Request) -> Response? {
        guard let origin = request.headers[.origin], request.headers[.accessControlRequestMethod] != nil else { return nil }
        var headers: HTTPFields = [:]
        if let allowed = allowOrigin(for: origin) {
            headers[.accessControlAllowOrigin] = allowed
            headers[.accessControlAllowMethods] = Self.allowedMethods
            // Echo what the browser asks for: supabase-js adds headers over time.
            headers[.accessControlAllowHeaders] = request.headers[.accessControlRequestHeaders] ?? Self.allowedHeaders
            headers[.accessControlMaxAge] = "86400"
            headers[.accessControlExposeHeaders] = Self.exposedHeaders
        }
        if !allowedOrigins.contains("*") { headers[.vary] = "Origin" }
        return Response(status: .noContent, headers: headers)
    }

    func decorate(_ response: inout Response, request: Request) {
        guard let origin = request.headers[.origin], let allowed = allowOrigin(for: origin) else { return }
        if response.headers[.accessControlAllowOrigin] == nil {
            response.headers[.accessControlAllowOrigin] = allowed
            response.headers[.accessControlExposeHeaders] = Self.exposedHeaders
        }
        if allowed != "*" { response.headers[.vary] = "Origin" }
    }
}
