import Foundation
import HTTPTypes
import Hummingbird
import Logging
import StorageCore

// The layers every request passes, outermost first (`StorageAPI.router()`): each has one job.

/// Gives the request its id (the client's `X-Request-Id` when sane, else a new one), puts it on
/// the request's logger, so every line logged on the request's behalf carries it, and echoes it.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = StorageRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.requestID = request.headers[.xRequestID].flatMap { $0.count <= 200 ? $0 : nil } ?? UUID().uuidString.lowercased()
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        var response = try await next(request, context)
        response.headers[.xRequestID] = context.requestID
        return response
    }
}

/// One line per request with its final status and duration.
struct AccessLogMiddleware: RouterMiddleware {
    typealias Context = StorageRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
        let response = try await next(request, context)
        context.logger.info(
            "request",
            metadata: [
                "method": .string(request.method.rawValue),
                // The path only: signed URLs carry their token in the query.
                "path": .string(String(StoragePath.relative(request.uri.path))),
                "status": .stringConvertible(response.status.code),
                "duration_ms": .stringConvertible((ContinuousClock.now - started).milliseconds),
            ])
        return response
    }
}

/// Objects are served from the API's own origin: no browser may sniff them into HTML or run
/// what they contain (an uploaded SVG or XHTML page would otherwise be stored XSS).
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = StorageRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.contentSecurityPolicy] = "sandbox"
        return response
    }
}

/// Answers CORS preflights and lets allowed origins read the answers (`CORSPolicy`).
struct CORSMiddleware: RouterMiddleware {
    typealias Context = StorageRequestContext

    let cors: CORSPolicy

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response: Response
        if request.method == .options, let preflight = cors.preflight(request) {
            response = preflight
        } else {
            response = try await next(request, context)
        }
        cors.decorate(&response, request: request)
        return response
    }
}

/// HEAD answers carry a GET's headers and no body (routes answer HEAD as they answer GET).
struct HeadMiddleware: RouterMiddleware {
    typealias Context = StorageRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response = try await next(request, context)
        if request.method == .head { response.body = ResponseBody() }
        return response
    }
}

/// The guarantee that every failure leaves as the catalogue says (contract §3): the envelope,
/// or TUS text from the TUS routes — never an empty 500. Causes are logged here, on the
/// request's logger: errors at 5xx, refusals with a cause at info.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = StorageRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return ErrorRenderer.notFound(request)
        } catch {
            let (failure, style) = Self.classify(error)
            if failure.statusCode >= 500 {
                context.logger.error(
                    "request failed",
                    metadata: ["code": .string(failure.code.description), "error": .string(failure.message),
                               "cause": .string(failure.underlying.map { String(reflecting: $0) } ?? "")])
            } else if let cause = failure.underlying {
                // The client heard the catalogue's words; the detail behind them is for operators.
                context.logger.info(
                    "request refused",
                    metadata: ["code": .string(failure.code.description), "cause": .string(String(reflecting: cause))])
            }
            return ErrorRenderer.response(failure, style: style)
        }
    }

    /// The catalogue entry for `error`, and how its route answers.
    static func classify(_ error: any Error) -> (StorageError, ErrorStyle) {
        switch error {
        case let error as TusFailure:
            return (error.error, .tusText)
        case let error as StorageError:
            return (error, .envelope)
        case let error as any HTTPResponseError:
            return (StorageError.http(status: Int(error.status.code), reason: error.status.reasonPhrase).causedBy(error), .envelope)
        default:
            return (StorageError.unhandled.causedBy(error), .envelope)
        }
    }
}
