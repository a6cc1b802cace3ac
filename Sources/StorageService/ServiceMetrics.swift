import Metrics

/// What the use cases report to `/metrics` (decisions.md). Handles are made on first use, after
/// the process has chosen its metrics backend.
enum ServiceMetrics {
    /// Uploads streaming bytes right now (REST, signed and TUS chunks).
    static let uploadsInProgress = Meter(label: "storage_uploads_in_progress")

    /// Backend failures other than "not found", by backend.
    static func backendError(_ backend: String) {
        Counter(label: "storage_backend_errors_total", dimensions: [("backend", backend)]).increment()
    }

    /// Render requests by outcome: `rendered`, `cache_hit`, `refused` (bad source) or `overloaded`.
    static func render(_ outcome: String) {
        Counter(label: "storage_renders_total", dimensions: [("outcome", outcome)]).increment()
    }

    /// Runs `work` counted as an upload in progress.
    static func countingUpload<Result>(_ work: () async throws -> Result) async rethrows -> Result {
        uploadsInProgress.increment()
        defer { uploadsInProgress.decrement() }
        return try await work()
    }
}
