/// The lease protocol of resumable uploads, as two values that take events and return actions.
/// Only one request writes an upload at a time: it holds a lease in Postgres, fenced by an epoch,
/// and renews it while it reads. Another request that wants the upload asks the holder to let go
/// (TUS 1.0 "request release") and waits. Nothing here sleeps, reads a clock or touches the
/// database: the service feeds in what happened (a renewal's outcome, the time, the request's
/// progress) and performs what comes out, so every order of those events is tested without I/O
/// (`LeaseStateMachineTests`).
///
/// Times are the holder's monotonic clock. Whether a lease has lapsed is judged by Postgres's
/// clock in the lease queries; this side only notices that its own renewals ran late.
public struct LeaseHolderStateMachine: Sendable {
    /// How long a lease lasts unrenewed, and how long a holder asked to let go may keep recording.
    public struct Timing: Sendable, Equatable {
        public var leaseDuration: Duration
        public var releaseGrace: Duration

        public init(leaseDuration: Duration, releaseGrace: Duration) {
            self.leaseDuration = leaseDuration
            self.releaseGrace = releaseGrace
        }
    }

    /// Where the holder stands.
    public enum State: Sendable, Equatable {
        /// Reading the body and recording what becomes durable.
        case holding
        /// Asked to let go at `since`: the body is no longer read, and what already arrived may
        /// be recorded until the grace ends.
        case stopping(since: ContinuousClock.Instant)
        /// Every byte is in and the object is being written: release requests wait for it.
        /// `stopAsked` remembers a request that came before (a failure then answers as released).
        case finishing(stopAsked: Bool)
        /// The lease is another's: taken over, fenced, or given up when the grace ended.
        /// Nothing more is recorded.
        case lost
        /// The request is over and no longer renews.
        case ended
    }

    /// What the renewal loop does next.
    public enum RenewalAction: Sendable, Equatable {
        /// Renew again after the renewal interval.
        case renewLater
        /// Tell the request to stop reading (it sees `stopRequested`) and keep renewing through the grace.
        case stopReading
        /// The grace is over: release the lease now and stop renewing; the request's writes are refused.
        case releaseAndStop
        /// Stop renewing: the lease is another's, or the request is over.
        case stop
    }

    /// A renewal's action, and by how much it came after the lease had lapsed on this side's
    /// clock (a warning: others could have taken the lease meanwhile; the pool or machine is overloaded).
    public struct RenewalDecision: Sendable, Equatable {
        public var action: RenewalAction
        public var lateBy: Duration?
    }

    /// What the request does when its work is over.
    public enum EndAction: Sendable, Equatable {
        /// Release the lease so the next request need not wait for it to lapse.
        case release
        /// Nothing: the lease is already another's (or released by the renewal loop).
        case none
    }

    public private(set) var state: State = .holding
    private let timing: Timing
    private var lastRenewal: ContinuousClock.Instant

    /// A lease taken at `now`.
    public init(acquiredAt now: ContinuousClock.Instant, timing: Timing) {
        self.timing = timing
        self.lastRenewal = now
    }

    // MARK: Events from the renewal loop

    /// A renewal went through; `releaseRequested` is whether another request asked for the upload.
    public mutating func renewalSucceeded(releaseRequested: Bool, at now: ContinuousClock.Instant) -> RenewalDecision {
        let gap = now - lastRenewal
        lastRenewal = now
        let lateBy = gap > timing.leaseDuration ? gap - timing.leaseDuration : nil
        switch state {
        case .holding:
            guard releaseRequested else { return RenewalDecision(action: .renewLater, lateBy: lateBy) }
            state = .stopping(since: now)
            return RenewalDecision(action: .stopReading, lateBy: lateBy)
        case .stopping(let since):
            guard now - since >= timing.releaseGrace else { return RenewalDecision(action: .renewLater, lateBy: lateBy) }
            // A request that is stalled (or slow to record) must not keep the asker waiting longer.
            state = .lost
            return RenewalDecision(action: .releaseAndStop, lateBy: lateBy)
        case .finishing:
            return RenewalDecision(action: .renewLater, lateBy: lateBy)
        case .lost, .ended:
            return RenewalDecision(action: .stop, lateBy: nil)
        }
    }

    /// A renewal was refused by the epoch fence: another request or the sweeper took the lease over.
    public mutating func renewalFenced() -> RenewalAction {
        if state != .ended { state = .lost }
        return .stop
    }

    /// A renewal failed for another reason (a database hiccup). The state stays: the next
    /// renewal tries again, and the lease lapses if the failures last.
    public func renewalFailed() -> RenewalAction {
        switch state {
        case .lost, .ended: .stop
        case .holding, .stopping, .finishing: .renewLater
        }
    }

    // MARK: Events from the request

    /// A write of the request was refused by the epoch fence, whether or not a renewal noticed yet.
    public mutating func writeFenced() {
        if state != .ended { state = .lost }
    }

    /// Every byte is durable and the request writes the object: release requests wait for it.
    public mutating func allBytesReceived() {
        switch state {
        case .holding: state = .finishing(stopAsked: false)
        case .stopping: state = .finishing(stopAsked: true)
        case .finishing, .lost, .ended: break
        }
    }

    /// The request is done with the upload (answered or failed).
    public mutating func requestEnded() -> EndAction {
        switch state {
        case .lost, .ended:
            state = .ended
            return .none
        case .holding, .stopping, .finishing:
            state = .ended
            return .release
        }
    }

    // MARK: What the request asks

    /// Whether the request should stop reading its body (and a failure answers as released).
    public var stopRequested: Bool {
        switch state {
        case .holding, .finishing(stopAsked: false): false
        case .stopping, .finishing(stopAsked: true), .lost: true
        case .ended: false
        }
    }

    /// Whether the request may still reserve numbers and record progress.
    public var mayRecord: Bool {
        switch state {
        case .holding, .stopping, .finishing: true
        case .lost, .ended: false
        }
    }

    /// Whether the lease is another's.
    public var isLost: Bool { state == .lost }
}

/// A request that finds the upload's lease held by another: it asks the holder once to let go
/// and polls until the lease is free or the lock wait is over.
public struct LeaseWaitStateMachine: Sendable {
    /// What the waiting request does next.
    public enum Action: Sendable, Equatable {
        /// Ask the holder to let go, then poll after the poll interval.
        case askReleaseThenPoll
        /// Poll again after the poll interval.
        case poll
        /// The wait is over: a writer answers 423, a HEAD answers with the offset it has.
        case giveUp
    }

    private let deadline: ContinuousClock.Instant
    private var asked = false

    /// A wait that ends at `deadline` (the start itself for work that never waits, like the sweeper).
    public init(deadline: ContinuousClock.Instant) {
        self.deadline = deadline
    }

    /// The lease was found held by another request at `now`.
    public mutating func heldByAnother(at now: ContinuousClock.Instant) -> Action {
        guard now < deadline else { return .giveUp }
        if asked { return .poll }
        asked = true
        return .askReleaseThenPoll
    }
}
