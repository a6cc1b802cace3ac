import HTTPTypes
import Hummingbird
import Tracing

/// One server span per request (contract §12.6), the parent of every span the request's work
/// makes. A W3C `traceparent` on the request makes it a child of the caller's span; the span is
/// named by route and tagged with the request id, and ends once the response body is written.
///
/// Unlike Hummingbird's `TracingMiddleware` it records the path without the query (signed URLs
/// carry their token there) and the request id this server answers with.
struct RequestTracingMiddleware: RouterMiddleware {
    typealias Context = StorageRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var parent = ServiceContext.current ?? .topLevel
        InstrumentationSystem.instrument.extract(request.headers, into: &parent, using: HTTPFieldsExtractor())
        // Routes capture the middleware chain, so the route is known before the handler runs;
        // the same route under both mounts is one name.
        let route = context.endpointPath.map { String(StoragePath.relative($0)) } ?? "unknown route"
        let span = startSpan("\(request.method.rawValue) \(route)", context: parent, ofKind: .server)
        span.updateAttributes { attributes in
            attributes["http.request.method"] = request.method.rawValue
            attributes["http.route"] = route
            attributes["url.path"] = request.uri.path
            attributes["request_id"] = context.requestID
            attributes["user_agent.original"] = request.headers[.userAgent]
        }
        do {
            var response = try await ServiceContext.$current.withValue(span.context) {
                try await next(request, context)
            }
            span.attributes["http.response.status_code"] = Int(response.status.code)
            if response.status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
            let body = response.body
            // Ends once the body is written (or failed to be): a download's span covers its bytes.
            response.body = ResponseBody(contentLength: body.contentLength) { writer in
                defer { span.end() }
                try await body.write(writer)
            }
            return response
        } catch {
            // The error middleware inside answers for everything it knows; what reaches here is
            // the rare failure it passed on (a body that could not be read, a dropped connection).
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error))
            span.end()
            throw error
        }
    }
}

/// Reads propagation headers (`traceparent`, `tracestate`) from a request.
struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from fields: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { fields[$0] }
    }
}
