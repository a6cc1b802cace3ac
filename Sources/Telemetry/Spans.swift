public import Logging
public import Tracing

/// Spans for the work a request or background job does. With tracing off the process-wide
/// tracer is swift-distributed-tracing's no-op one, so these cost a task-local read and nothing
/// is recorded.
///
/// Every span is tagged with the id its logger carries: `request_id` for a request's work,
/// `job` and `job_id` for a background job's, so a trace and the log lines of the same work can
/// be found from each other.
public enum Telemetry {
    /// Runs `body` inside a span named `name`, a child of the current span (the request's, or
    /// the job's own root), which it is the current span for. The span ends when `body` returns;
    /// an error thrown is recorded on it.
    public static func withSpan<Result>(
        _ name: String, kind: SpanKind = .internal, logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (any Span) async throws -> Result
    ) async rethrows -> Result {
        try await Tracing.withSpan(name, ofKind: kind, isolation: isolation) { span in
            tag(span, from: logger)
            return try await body(span)
        }
    }

    /// Starts a span named `name` under the current one, for code that cannot run inside a
    /// closure (typed throws); the caller ends it. Nil unless there is a current span to hang it
    /// under and the span records: the database transactions and S3 calls of requests and jobs,
    /// not those of the pollers that look for work every second (each would be a trace of its
    /// own, of nothing), and with tracing off nothing, not even its name, is made per call.
    public static func startChildSpan(
        _ name: @autoclosure () -> String, kind: SpanKind = .internal, logger: Logger
    ) -> (any Span)? {
        guard ServiceContext.current != nil else { return nil }
        let span = Tracing.startSpan(name(), ofKind: kind)
        guard span.isRecording else {
            span.end()
            return nil
        }
        tag(span, from: logger)
        return span
    }

    /// Copies the work's ids from the logger's metadata onto the span.
    static func tag(_ span: any Span, from logger: Logger) {
        guard span.isRecording else { return }
        for key in ["request_id", "job", "job_id"] {
            if case .string(let value)? = logger[metadataKey: key] { span.attributes[key] = value }
        }
    }
}
