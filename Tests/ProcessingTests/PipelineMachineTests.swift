import Foundation
import StorageCore
import Testing

@testable import Processing

/// The pipeline's state machine, without I/O: step results in, actions out.
struct PipelineMachineTests {
    let rule = PipelineMachine.Rule(maxAttempts: 3, backoff: .seconds(1), onError: .reject)

    @Test func stepsRunInOrderAndThePassedVersionIsPromoted() {
        var machine = PipelineMachine(steps: ["clamav", "sniff-mime", "sha256"], rule: rule)
        #expect(machine.next() == .run(step: 0))
        #expect(machine.finished(step: 0, .passed(detail: "clean"), jitter: 0) == .run(step: 1))
        #expect(machine.finished(step: 1, .passed(detail: "image/png"), jitter: 0) == .run(step: 2))
        #expect(machine.finished(step: 2, .passed(detail: "ab12"), jitter: 0) == .promote)
        #expect(machine.steps.map(\.state) == [.passed, .passed, .passed])
        #expect(machine.steps.map(\.detail) == ["clean", "image/png", "ab12"])
        #expect(machine.next() == .promote)
    }

    @Test func aRejectionStopsThePipelineAndLaterStepsStayPending() {
        var machine = PipelineMachine(steps: ["clamav", "sha256"], rule: rule)
        #expect(machine.finished(step: 0, .rejected(reason: "Eicar-Test-Signature FOUND"), jitter: 0)
            == .reject(step: "clamav", reason: "Eicar-Test-Signature FOUND"))
        #expect(machine.steps.map(\.state) == [.failed, .pending])
        #expect(machine.isRejected)
        // A replica that claims it afterwards finishes the rejection, it does not run step 2.
        #expect(machine.next() == .reject(step: "clamav", reason: "Eicar-Test-Signature FOUND"))
    }

    @Test func aStepThatCannotFinishIsRetriedWithBackoffThenFailsClosed() {
        var machine = PipelineMachine(steps: ["clamav"], rule: rule)
        #expect(machine.finished(step: 0, .failed(reason: "connection refused"), jitter: 1) == .retry(step: 0, after: .seconds(1)))
        #expect(machine.attempts == 1)
        #expect(machine.steps[0].state == .pending)
        #expect(machine.finished(step: 0, .failed(reason: "connection refused"), jitter: 1) == .retry(step: 0, after: .seconds(2)))
        #expect(machine.finished(step: 0, .failed(reason: "connection refused"), jitter: 1)
            == .reject(step: "clamav", reason: "could not finish after 3 attempts: connection refused"))
        #expect(machine.steps[0].state == .failed)
    }

    @Test func aRuleThatFailsOpenPassesTheStepAfterItsAttempts() {
        var machine = PipelineMachine(steps: ["clamav", "sha256"], rule: .init(maxAttempts: 2, backoff: .seconds(1), onError: .pass))
        #expect(machine.finished(step: 0, .failed(reason: "timeout"), jitter: 0) == .retry(step: 0, after: .milliseconds(500)))
        #expect(machine.finished(step: 0, .failed(reason: "timeout"), jitter: 0) == .run(step: 1))
        #expect(machine.steps[0] == .init(name: "clamav", state: .passed, detail: "skipped after 2 attempts: timeout"))
        // The next step starts with its own attempts.
        #expect(machine.attempts == 0)
        #expect(machine.finished(step: 1, .failed(reason: "disk"), jitter: 0) == .retry(step: 1, after: .milliseconds(500)))
    }

    @Test func aSuccessAfterAFailureResetsTheAttempts() {
        var machine = PipelineMachine(steps: ["webhook", "sha256"], rule: rule)
        _ = machine.finished(step: 0, .failed(reason: "retry asked"), jitter: 0)
        #expect(machine.finished(step: 0, .passed(detail: nil), jitter: 0) == .run(step: 1))
        #expect(machine.attempts == 0)
    }

    @Test func aLateResultOfAnotherStepChangesNothing() {
        // A replica whose claim ran out reports step 0 after the new holder passed it.
        var machine = PipelineMachine(
            restoring: [.init(name: "clamav", state: .passed, detail: "clean"), .init(name: "sha256")], attempts: 0, rule: rule)
        let before = machine
        #expect(machine.finished(step: 0, .rejected(reason: "late"), jitter: 0) == .run(step: 1))
        #expect(machine == before)
        #expect(machine.finished(step: 5, .passed(detail: nil), jitter: 0) == .run(step: 1))
        #expect(machine == before)
    }

    @Test func aRestoredJobGoesOnWhereItWasLeft() {
        // Killed after step 0 passed and step 1 failed once.
        var machine = PipelineMachine(
            restoring: [.init(name: "clamav", state: .passed), .init(name: "webhook", detail: "HTTP 503")], attempts: 1, rule: rule)
        #expect(machine.next() == .run(step: 1))
        #expect(machine.finished(step: 1, .failed(reason: "HTTP 503"), jitter: 1) == .retry(step: 1, after: .seconds(2)))
    }

    @Test func aBucketWithNoStepsIsPromotedAtOnce() {
        #expect(PipelineMachine(steps: [], rule: rule).next() == .promote)
    }

    @Test func stepRecordsRoundTripThroughJSON() throws {
        let records = [PipelineMachine.StepRecord(name: "sha256", state: .passed, detail: "ab"), .init(name: "clamav")]
        let data = try JSONEncoder().encode(records)
        #expect(try JSONDecoder().decode([PipelineMachine.StepRecord].self, from: data) == records)
    }
}
