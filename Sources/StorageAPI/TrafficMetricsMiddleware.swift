import Hummingbird
import Metrics

/// Counts body bytes in both directions for `/metrics`, as they stream.
struct TrafficMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let received = Counter(label: "storage_http_received_bytes_total")
    let sent = Counter(label: "storage_http_sent_bytes_total")

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        let received = self.received
        request.body = RequestBody(asyncSequence: request.body.map { buffer in
            received.increment(by: buffer.readableBytes)
            return buffer
        })
        var response = try await next(request, context)
        let sent = self.sent
        let body = response.body
        // ResponseBody.map would drop the length, turning every response into a chunked one.
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            try await body.write(writer.map { buffer in
                sent.increment(by: buffer.readableBytes)
                return buffer
            })
        }
        return response
    }
}
