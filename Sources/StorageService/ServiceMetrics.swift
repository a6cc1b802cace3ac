import Foundation
import Metrics
import Processing
import StorageCore
import Synchronization

/// What the use cases report to `/metrics` (contract §5.12). Handles are made on first use, after
/// the process has chosen its metrics backend.
enum ServiceMetrics {
    /// Uploads streaming bytes right now (REST, signed and TUS chunks).
    static let uploadsInProgress = Meter(label: "storage_uploads_in_progress")

    /// Backend failures other than "not found", by backend.
    static func backendError(_ backend: String) {
        Counter(label: "storage_backend_errors_total", dimensions: [("backend", backend)]).increment()
    }

    /// Render requests by outcome.
    enum RenderOutcome: String, CaseIterable {
        case rendered
        case cacheHit = "cache_hit"
        /// A source that is not an image, corrupt, or too large.
        case refused
        /// Every worker busy and the queue full.
        case overloaded
    }

    private static let renderCounters = Dictionary(uniqueKeysWithValues: RenderOutcome.allCases.map {
        ($0, Counter(label: "storage_renders_total", dimensions: [("outcome", $0.rawValue)]))
    })

    static func render(_ outcome: RenderOutcome) {
        renderCounters[outcome]?.increment()
    }

    // MARK: Processing (docs/contract.md §12.3)

    static func processingJobRecorded() {
        Counter(label: "storage_processing_jobs_total", dimensions: [("state", "pending")]).increment()
    }

    /// A job that ended, by how (`ready`, `rejected`), and how long it took from its upload.
    static func processingJobFinished(_ state: String, since created: Date) {
        Counter(label: "storage_processing_jobs_total", dimensions: [("state", state)]).increment()
        Timer(label: "storage_processing_ready_seconds", dimensions: [("state", state)], preferredDisplayUnit: .seconds)
            .recordSeconds(max(0, Date().timeIntervalSince(created)))
    }

    /// One delivery attempt, by target and the state it left (`delivered`, `pending`: to retry, `failed`).
    static func processingDelivery(_ target: String, state: String, seconds: Double) {
        Counter(label: "storage_processing_deliveries_total", dimensions: [("target", target), ("state", state)]).increment()
        Timer(label: "storage_processing_delivery_seconds", dimensions: [("target", target)], preferredDisplayUnit: .seconds)
            .recordSeconds(seconds)
    }

    /// One step's run, by step and outcome (`passed`, `rejected`, `failed`).
    static func processingStep(_ step: String, outcome: PipelineMachine.StepOutcome, seconds: Double) {
        let result = switch outcome {
        case .passed: "passed"
        case .rejected: "rejected"
        case .failed: "failed"
        }
        Counter(label: "storage_processing_steps_total", dimensions: [("step", step), ("outcome", result)]).increment()
        Timer(label: "storage_processing_step_seconds", dimensions: [("step", step)], preferredDisplayUnit: .seconds)
            .recordSeconds(seconds)
    }
}

/// Counts uploads streaming bytes and refuses new ones beyond `maximum` (0 = no cap), so a flood
/// of slow uploads cannot take every connection, file descriptor and database slot.
final class UploadGate: Sendable {
    private let maximum: Int
    private let current = Atomic<Int>(0)

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Runs `work` as one upload in progress; throws 429 when the cap is reached.
    func admit<Result>(_ work: () async throws -> Result) async throws -> Result {
        let now = current.add(1, ordering: .relaxed).newValue
        guard maximum == 0 || now <= maximum else {
            current.subtract(1, ordering: .relaxed)
            throw StorageError.tooManyRequests("Too many uploads in progress, try again later")
        }
        ServiceMetrics.uploadsInProgress.increment()
        defer {
            current.subtract(1, ordering: .relaxed)
            ServiceMetrics.uploadsInProgress.decrement()
        }
        return try await work()
    }
}
