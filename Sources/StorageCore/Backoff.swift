/// Exponential back-off with jitter: the wait before the next attempt of something that
/// failed (a webhook delivery, a processing step, a delivery to a target).
public struct Backoff: Sendable, Equatable {
    /// The wait after the first failure; it doubles after each one.
    public var initial: Duration
    /// The longest wait.
    public var maximum: Duration

    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
    }

    /// `initial · 2^(attempt-1)`, at most `maximum`, scaled into its upper half by `jitter`
    /// (a number in 0...1, random in production), so things that failed together spread out.
    public func delay(afterAttempt attempt: Int, jitter: Double) -> Duration {
        let doublings = min(max(attempt - 1, 0), 30)
        let full = min(initial * (1 << doublings), maximum)
        return full * (0.5 + 0.5 * min(max(jitter, 0), 1))
    }
}
