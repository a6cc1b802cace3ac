/// Who may render now, who waits, and who is turned away: a fixed number of running renders and
/// a bounded line behind them. A plain value, so the rules are testable without threads.
public struct RenderAdmission: Sendable, Hashable {
    /// What happens to an arriving request.
    public enum Decision: Sendable, Hashable {
        case run
        case wait
        case refuse
    }

    public let workers: Int
    public let queueCapacity: Int
    public private(set) var running = 0
    public private(set) var waiting = 0

    public init(workers: Int, queueCapacity: Int) {
        precondition(workers > 0 && queueCapacity >= 0)
        self.workers = workers
        self.queueCapacity = queueCapacity
    }

    /// A request arrives.
    public mutating func arrive() -> Decision {
        if running < workers {
            running += 1
            return .run
        }
        if waiting < queueCapacity {
            waiting += 1
            return .wait
        }
        return .refuse
    }

    /// A running request finishes. Returns true when its slot passes to the longest waiter.
    public mutating func depart() -> Bool {
        precondition(running > 0, "departure without arrival")
        if waiting > 0 {
            waiting -= 1
            return true
        }
        running -= 1
        return false
    }
}
