import Testing

@testable import StorageCore

/// The lease protocol without I/O: every event in every state, and the orders the load and
/// take-over tests met against Postgres, replayed as plain values.
@Suite struct LeaseHolderStateMachineTests {
    typealias Machine = LeaseHolderStateMachine
    static let timing = Machine.Timing(leaseDuration: .seconds(10), releaseGrace: .seconds(2))
    static let start = ContinuousClock.now

    static func at(_ seconds: Double) -> ContinuousClock.Instant { start.advanced(by: .milliseconds(Int64(seconds * 1000))) }

    static func machine() -> Machine { Machine(acquiredAt: start, timing: timing) }

    /// Every event a holder can meet.
    enum Event: CaseIterable, CustomTestStringConvertible {
        case renewed, renewedWithRelease, renewalFenced, renewalFailed, writeFenced, allBytesReceived, requestEnded
        var testDescription: String { "\(self)" }
    }

    /// A machine brought into each reachable state.
    enum Start: CaseIterable, CustomTestStringConvertible {
        case holding, stopping, finishing, finishingAfterStop, lost, ended
        var testDescription: String { "\(self)" }

        var machine: Machine {
            var machine = LeaseHolderStateMachineTests.machine()
            switch self {
            case .holding: break
            case .stopping: _ = machine.renewalSucceeded(releaseRequested: true, at: at(1))
            case .finishing: machine.allBytesReceived()
            case .finishingAfterStop:
                _ = machine.renewalSucceeded(releaseRequested: true, at: at(1))
                machine.allBytesReceived()
            case .lost: _ = machine.renewalFenced()
            case .ended: _ = machine.requestEnded()
            }
            return machine
        }
    }

    @discardableResult
    static func apply(_ event: Event, to machine: inout Machine, at time: Double) -> String {
        switch event {
        case .renewed: "\(machine.renewalSucceeded(releaseRequested: false, at: at(time)).action)"
        case .renewedWithRelease: "\(machine.renewalSucceeded(releaseRequested: true, at: at(time)).action)"
        case .renewalFenced: "\(machine.renewalFenced())"
        case .renewalFailed: "\(machine.renewalFailed())"
        case .writeFenced: { machine.writeFenced(); return "-" }()
        case .allBytesReceived: { machine.allBytesReceived(); return "-" }()
        case .requestEnded: "\(machine.requestEnded())"
        }
    }

    /// The whole transition table: state after, and action, for each (state, event) at 1.5 s
    /// (inside the grace of a stop asked at 1 s).
    @Test(arguments: Start.allCases, Event.allCases)
    func transitionTable(_ start: Start, _ event: Event) {
        var machine = start.machine
        let action = Self.apply(event, to: &machine, at: 1.5)
        let stopping = Machine.State.stopping(since: Self.at(1))
        let expected: [Start: [Event: (Machine.State, String)]] = [
            .holding: [
                .renewed: (.holding, "renewLater"), .renewedWithRelease: (.stopping(since: Self.at(1.5)), "stopReading"),
                .renewalFenced: (.lost, "stop"), .renewalFailed: (.holding, "renewLater"), .writeFenced: (.lost, "-"),
                .allBytesReceived: (.finishing(stopAsked: false), "-"), .requestEnded: (.ended, "release"),
            ],
            .stopping: [
                .renewed: (stopping, "renewLater"), .renewedWithRelease: (stopping, "renewLater"),
                .renewalFenced: (.lost, "stop"), .renewalFailed: (stopping, "renewLater"), .writeFenced: (.lost, "-"),
                .allBytesReceived: (.finishing(stopAsked: true), "-"), .requestEnded: (.ended, "release"),
            ],
            .finishing: [
                .renewed: (.finishing(stopAsked: false), "renewLater"),
                .renewedWithRelease: (.finishing(stopAsked: false), "renewLater"), .renewalFenced: (.lost, "stop"),
                .renewalFailed: (.finishing(stopAsked: false), "renewLater"), .writeFenced: (.lost, "-"),
                .allBytesReceived: (.finishing(stopAsked: false), "-"), .requestEnded: (.ended, "release"),
            ],
            .finishingAfterStop: [
                .renewed: (.finishing(stopAsked: true), "renewLater"),
                .renewedWithRelease: (.finishing(stopAsked: true), "renewLater"), .renewalFenced: (.lost, "stop"),
                .renewalFailed: (.finishing(stopAsked: true), "renewLater"), .writeFenced: (.lost, "-"),
                .allBytesReceived: (.finishing(stopAsked: true), "-"), .requestEnded: (.ended, "release"),
            ],
            .lost: [
                .renewed: (.lost, "stop"), .renewedWithRelease: (.lost, "stop"), .renewalFenced: (.lost, "stop"),
                .renewalFailed: (.lost, "stop"), .writeFenced: (.lost, "-"), .allBytesReceived: (.lost, "-"),
                .requestEnded: (.ended, "none"),
            ],
            .ended: [
                .renewed: (.ended, "stop"), .renewedWithRelease: (.ended, "stop"), .renewalFenced: (.ended, "stop"),
                .renewalFailed: (.ended, "stop"), .writeFenced: (.ended, "-"), .allBytesReceived: (.ended, "-"),
                .requestEnded: (.ended, "none"),
            ],
        ]
        let (state, expectedAction) = expected[start]![event]!
        #expect(machine.state == state)
        #expect(action == expectedAction)
    }

    /// What the request reads off each state.
    @Test(arguments: Start.allCases)
    func whatTheRequestSees(_ start: Start) {
        let machine = start.machine
        let expected: [Start: (stop: Bool, record: Bool, lost: Bool)] = [
            .holding: (false, true, false), .stopping: (true, true, false), .finishing: (false, true, false),
            .finishingAfterStop: (true, true, false), .lost: (true, false, true), .ended: (false, false, false),
        ]
        let (stop, record, lost) = expected[start]!
        #expect(machine.stopRequested == stop)
        #expect(machine.mayRecord == record)
        #expect(machine.isLost == lost)
    }

    /// Asked to let go, a holder records for the grace; a stalled one is cut off at its end,
    /// releases the lease itself, and its later writes are refused.
    @Test func aStalledHolderIsCutOffAfterTheGrace() {
        var machine = Self.machine()
        #expect(machine.renewalSucceeded(releaseRequested: true, at: Self.at(1)).action == .stopReading)
        #expect(machine.renewalSucceeded(releaseRequested: true, at: Self.at(2)).action == .renewLater)
        #expect(machine.renewalSucceeded(releaseRequested: true, at: Self.at(2.999)).action == .renewLater)
        #expect(machine.mayRecord)
        #expect(machine.renewalSucceeded(releaseRequested: true, at: Self.at(3)).action == .releaseAndStop)
        #expect(!machine.mayRecord && machine.isLost)
        // The loop already released: the request's end must not release a lease someone else may hold by now.
        #expect(machine.requestEnded() == .none)
    }

    /// The usual release: the holder stops reading, records what arrived, answers, and lets go
    /// before the grace ends.
    @Test func aHolderThatStopsInTimeReleasesItself() {
        var machine = Self.machine()
        #expect(machine.renewalSucceeded(releaseRequested: true, at: Self.at(1)).action == .stopReading)
        #expect(machine.stopRequested && machine.mayRecord)
        #expect(machine.requestEnded() == .release)
        #expect(machine.renewalSucceeded(releaseRequested: true, at: Self.at(2)).action == .stop)
    }

    /// A writer with every byte in is not cut off, however long the object takes to write and
    /// however often others ask (they wait, or get 423).
    @Test func finishingIsNotCutOff() {
        var machine = Self.machine()
        machine.allBytesReceived()
        for second in 1...30 {
            #expect(machine.renewalSucceeded(releaseRequested: true, at: Self.at(Double(second))).action == .renewLater)
        }
        #expect(!machine.stopRequested && machine.mayRecord)
        #expect(machine.requestEnded() == .release)
    }

    /// A stop asked just before the last byte arrived: finishing wins, and the grace no longer applies.
    @Test func aStopBeforeTheLastByteStillFinishes() {
        var machine = Self.machine()
        _ = machine.renewalSucceeded(releaseRequested: true, at: Self.at(1))
        machine.allBytesReceived()
        #expect(machine.renewalSucceeded(releaseRequested: true, at: Self.at(10)).action == .renewLater)
        #expect(machine.mayRecord && machine.stopRequested)
    }

    /// The take-over the load test found: renewals wait for a saturated pool, the lease lapses,
    /// the sweeper takes it over. The holder learns it from its next renewal or from a fenced
    /// write, whichever comes first; from then on nothing is recorded and nothing released.
    @Test(arguments: [true, false])
    func aLapsedHolderLearnsOfTheTakeOver(_ byRenewal: Bool) {
        var machine = Self.machine()
        #expect(machine.renewalFailed() == .renewLater)
        #expect(machine.renewalFailed() == .renewLater)
        if byRenewal {
            #expect(machine.renewalFenced() == .stop)
        } else {
            machine.writeFenced()
            #expect(machine.renewalSucceeded(releaseRequested: false, at: Self.at(12)).action == .stop)
        }
        #expect(machine.isLost && !machine.mayRecord)
        machine.allBytesReceived()
        #expect(machine.isLost)
        #expect(machine.requestEnded() == .none)
    }

    /// Lost while writing the object: the request reports it (the service then finishes the
    /// recorded upload under a new lease).
    @Test func lostWhileFinishing() {
        var machine = Self.machine()
        machine.allBytesReceived()
        machine.writeFenced()
        #expect(machine.isLost && !machine.mayRecord)
        #expect(machine.requestEnded() == .none)
    }

    /// Renewals that come later than a lease lasts are reported (others could have taken it).
    @Test func lateRenewalsAreReported() {
        var machine = Self.machine()
        #expect(machine.renewalSucceeded(releaseRequested: false, at: Self.at(1)).lateBy == nil)
        #expect(machine.renewalSucceeded(releaseRequested: false, at: Self.at(11)).lateBy == nil)
        let late = machine.renewalSucceeded(releaseRequested: false, at: Self.at(24))
        #expect(late == .init(action: .renewLater, lateBy: .seconds(3)))
        // Failures do not move the last renewal: the gap counts from the last success.
        _ = machine.renewalFailed()
        #expect(machine.renewalSucceeded(releaseRequested: false, at: Self.at(36)).lateBy == .seconds(2))
    }
}

@Suite struct LeaseWaitStateMachineTests {
    static let start = ContinuousClock.now

    /// Asks once, polls until the lock wait ends, then gives up.
    @Test func asksOnceThenPollsUntilTheDeadline() {
        var wait = LeaseWaitStateMachine(deadline: Self.start.advanced(by: .seconds(5)))
        #expect(wait.heldByAnother(at: Self.start) == .askReleaseThenPoll)
        for step in 1...24 {
            #expect(wait.heldByAnother(at: Self.start.advanced(by: .milliseconds(200 * step))) == .poll)
        }
        #expect(wait.heldByAnother(at: Self.start.advanced(by: .seconds(5))) == .giveUp)
        #expect(wait.heldByAnother(at: Self.start.advanced(by: .seconds(6))) == .giveUp)
    }

    /// Work that never waits (the sweeper) neither asks nor polls: a held upload is skipped.
    @Test func aWaitEndingAtOnceNeverAsks() {
        var wait = LeaseWaitStateMachine(deadline: Self.start)
        #expect(wait.heldByAnother(at: Self.start) == .giveUp)
    }

    /// A deadline already passed when the first attempt comes back (a slow acquire) gives up
    /// without disturbing the holder.
    @Test func aLateFirstAttemptGivesUp() {
        var wait = LeaseWaitStateMachine(deadline: Self.start.advanced(by: .seconds(5)))
        #expect(wait.heldByAnother(at: Self.start.advanced(by: .seconds(7))) == .giveUp)
    }
}
