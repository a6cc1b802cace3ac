public import Foundation

/// Where and how events are delivered (`WEBHOOK_*`, docs/contract.md §12.2).
public struct WebhookSettings: Sendable {
    /// The receiver; nil records events without sending them.
    public var url: URL?
    /// Sent as `Authorization: Bearer …`.
    public var apiKey: String?
    /// Signs each delivery (`webhook-signature`).
    public var signingSecret: String?
    /// How long one attempt may take, connection included.
    public var timeout: Duration
    public var policy: DeliveryPolicy
    /// How often a deliverer looks for due events without being woken (retries, missed notifications).
    public var pollInterval: Duration
    /// How long delivered events are kept.
    public var retention: Duration
    /// Deliveries in flight per replica (events of different keys).
    public var concurrency: Int

    public init(
        url: URL?, apiKey: String? = nil, signingSecret: String? = nil, timeout: Duration = .seconds(5),
        policy: DeliveryPolicy = DeliveryPolicy(maximumAttempts: 10, initialBackoff: .seconds(1)),
        pollInterval: Duration = .seconds(1), retention: Duration = .seconds(72 * 3600), concurrency: Int = 8
    ) {
        self.url = url
        self.apiKey = apiKey
        self.signingSecret = signingSecret
        self.timeout = timeout
        self.policy = policy
        self.pollInterval = pollInterval
        self.retention = retention
        self.concurrency = max(1, concurrency)
    }

    /// A claim outlives the attempt it covers (the attempt is cut at `timeout`), so no other
    /// replica sends the event while its holder still might.
    public var claimLease: Duration { timeout + .seconds(5) }
}
