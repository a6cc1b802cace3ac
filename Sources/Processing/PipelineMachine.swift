public import StorageCore

/// The progress of one pending version through its bucket's steps, as a value: step results
/// in, actions out, no I/O (docs/contract.md §12.3). The pipeline service stores it between
/// steps (`steps`, `attempts`), so whichever replica claims the job next goes on from there.
public struct PipelineMachine: Sendable, Equatable {
    /// One step's record, as the status resource shows it.
    public struct StepRecord: Sendable, Equatable, Codable {
        public enum State: String, Sendable, Codable { case pending, passed, failed }
        public var name: String
        public var state: State
        public var detail: String?

        public init(name: String, state: State = .pending, detail: String? = nil) {
            self.name = name
            self.state = state
            self.detail = detail
        }
    }

    /// What a step came to.
    public enum StepOutcome: Sendable, Equatable {
        case passed(detail: String?)
        /// The content is refused (a signature found, a wrong type, a hook said reject).
        case rejected(reason: String)
        /// The step could not finish (clamd down, a hook unreachable or asking to retry).
        case failed(reason: String)
    }

    /// What the service does next.
    public enum Action: Sendable, Equatable {
        /// Runs step `index` (again).
        case run(step: Int)
        /// Runs step `index` again once `after` has passed; the job is released until then.
        case retry(step: Int, after: Duration)
        /// Every step passed: the version becomes the object's current one.
        case promote
        /// A step refused it (or could not finish and the rule fails closed).
        case reject(step: String, reason: String)
    }

    public private(set) var steps: [StepRecord]
    /// Attempts of the current step so far.
    public private(set) var attempts: Int
    let rule: Rule

    /// The retry rules a machine follows, from the bucket's configuration.
    public struct Rule: Sendable, Equatable {
        public var maxAttempts: Int
        public var backoff: Backoff
        public var onError: StepErrorOutcome

        public init(maxAttempts: Int, backoff: Duration, onError: StepErrorOutcome) {
            self.maxAttempts = max(1, maxAttempts)
            self.backoff = BucketProcessing(steps: [], retryBackoff: backoff).backoff
            self.onError = onError
        }

        public init(_ bucket: BucketProcessing) {
            self.maxAttempts = bucket.maxAttempts
            self.backoff = bucket.backoff
            self.onError = bucket.onError
        }
    }

    /// A new job: every step pending.
    public init(steps: [String], rule: Rule) {
        self.init(restoring: steps.map { StepRecord(name: $0) }, attempts: 0, rule: rule)
    }

    /// A stored job, as the last replica left it.
    public init(restoring steps: [StepRecord], attempts: Int, rule: Rule) {
        self.steps = steps
        self.attempts = attempts
        self.rule = rule
    }

    /// The step to run next, nil once none is pending.
    public var current: Int? { steps.firstIndex { $0.state == .pending } }

    /// True once a step failed: the job is over, rejected.
    public var isRejected: Bool { steps.contains { $0.state == .failed } }

    /// The action for a job just claimed: the first pending step, or the end it reached.
    public func next() -> Action {
        if let failed = steps.first(where: { $0.state == .failed }) {
            return .reject(step: failed.name, reason: failed.detail ?? "rejected")
        }
        guard let current else { return .promote }
        return .run(step: current)
    }

    /// Records what step `index` came to and returns what to do next. A result for any step
    /// but the current one (a replica that lost its claim reporting late) changes nothing.
    /// - Parameter jitter: a number in 0...1 (random in production) spreading retries out.
    public mutating func finished(step index: Int, _ outcome: StepOutcome, jitter: Double) -> Action {
        guard index == current else { return next() }
        attempts += 1
        switch outcome {
        case .passed(let detail):
            steps[index].state = .passed
            steps[index].detail = detail
            attempts = 0
        case .rejected(let reason):
            steps[index].state = .failed
            steps[index].detail = reason
        case .failed(let reason):
            guard attempts >= rule.maxAttempts else {
                steps[index].detail = reason
                return .retry(step: index, after: rule.backoff.delay(afterAttempt: attempts, jitter: jitter))
            }
            switch rule.onError {
            case .reject:
                steps[index].state = .failed
                steps[index].detail = "could not finish after \(attempts) attempts: \(reason)"
            case .pass:
                steps[index].state = .passed
                steps[index].detail = "skipped after \(attempts) attempts: \(reason)"
            }
            attempts = 0
        }
        return next()
    }
}
