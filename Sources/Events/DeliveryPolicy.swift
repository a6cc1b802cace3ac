public import StorageCore

/// What one delivery attempt came to.
public enum DeliveryResult: Sendable, Equatable {
    /// The receiver answered 2xx.
    case acknowledged(status: Int)
    /// The receiver answered something else.
    case refused(status: Int)
    /// No answer: refused connection, timeout, broken transfer.
    case unreachable(String)

    /// For `last_error` and the log.
    public var description: String {
        switch self {
        case .acknowledged(let status): "HTTP \(status)"
        case .refused(let status): "the receiver answered HTTP \(status)"
        case .unreachable(let reason): "no answer: \(reason)"
        }
    }
}

/// What to do with an event after an attempt.
public enum DeliveryAction: Sendable, Equatable {
    case markDelivered
    /// Due again after the back-off.
    case retry(after: Duration)
    /// The last attempt failed: the event stays, `failed`, until someone retries it.
    case markFailed
}

/// The retry rules of webhook delivery (docs/contract.md §12.2), as a value: results in,
/// actions out, no I/O.
public struct DeliveryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included (`WEBHOOK_MAX_ATTEMPTS`).
    public var maximumAttempts: Int
    /// The waits between attempts (`WEBHOOK_BACKOFF_MS` first, doubling).
    public var backoff: Backoff

    public init(maximumAttempts: Int, initialBackoff: Duration, maximumBackoff: Duration = .seconds(60)) {
        self.maximumAttempts = max(1, maximumAttempts)
        self.backoff = Backoff(initial: initialBackoff, maximum: maximumBackoff)
    }

    /// The action after attempt number `attempt` (1 for the first) came to `result`.
    /// - Parameter jitter: a number in 0...1 (random in production): the wait is between half
    ///   and all of the back-off, so replicas and events that failed together spread out.
    public func action(after result: DeliveryResult, attempt: Int, jitter: Double) -> DeliveryAction {
        if case .acknowledged = result { return .markDelivered }
        guard attempt < maximumAttempts else { return .markFailed }
        return .retry(after: backoff.delay(afterAttempt: attempt, jitter: jitter))
    }
}
