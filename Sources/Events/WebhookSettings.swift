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

    /// Events a deliverer claims at once: `claimRounds` rounds of `concurrency` attempts.
    public var batchSize: Int { concurrency * Self.claimRounds }
    static let claimRounds = 4

    /// A claim outlives every attempt of its batch (each is cut at `timeout`, and the batch is
    /// sent `concurrency` at a time and recorded at its end), so no other replica sends an event
    /// while its holder still might. (A lease of one attempt let a loaded replica's last rounds
    /// outlive their claims: another replica sent those events again.)
    public var claimLease: Duration { timeout * Self.claimRounds + .seconds(5) }
}
