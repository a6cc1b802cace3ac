import Foundation
import Metrics

/// Prometheus series of event delivery (`storage_events_*`).
enum EventMetrics {
    /// Events waiting for delivery (pending), as of the last count.
    static let pending = Gauge(label: "storage_events_pending")
    /// Events whose attempts ran out (failed), as of the last count.
    static let failedNow = Gauge(label: "storage_events_failed")
    private static let deliveredTotal = Counter(label: "storage_events_delivered_total")
    private static let failedTotal = Counter(label: "storage_events_failed_total")
    /// Commit to acknowledgement, in seconds.
    private static let latency = Metrics.Timer(label: "storage_event_delivery_latency_seconds", preferredDisplayUnit: .seconds)

    private static let acknowledged = Counter(label: "storage_event_delivery_attempts_total", dimensions: [("outcome", "acknowledged")])
    private static let refused = Counter(label: "storage_event_delivery_attempts_total", dimensions: [("outcome", "refused")])
    private static let unreachable = Counter(label: "storage_event_delivery_attempts_total", dimensions: [("outcome", "unreachable")])

    static func attempt(_ result: DeliveryResult) {
        switch result {
        case .acknowledged: acknowledged.increment()
        case .refused: refused.increment()
        case .unreachable: unreachable.increment()
        }
    }

    static func delivered(latency seconds: TimeInterval) {
        deliveredTotal.increment()
        latency.recordNanoseconds(Int64(max(seconds, 0) * 1e9))
    }

    static func failed() { failedTotal.increment() }
}
