import Foundation
import Testing

@testable import Processing

/// clamd's answers to INSTREAM (the exchange itself runs against a real clamd in Tests/compat).
struct ClamdReplyTests {
    @Test func cleanAndInfectedAnswers() throws {
        #expect(try ClamdClient.parseReply("stream: OK\0") == .clean)
        #expect(try ClamdClient.parseReply("stream: Eicar-Test-Signature FOUND\0") == .infected(signature: "Eicar-Test-Signature"))
        #expect(try ClamdClient.parseReply("stream: Win.Test.EICAR_HDB-1 FOUND\n") == .infected(signature: "Win.Test.EICAR_HDB-1"))
    }

    @Test(arguments: ["INSTREAM size limit exceeded. ERROR\0", "", "\0", "UNKNOWN COMMAND\0"])
    func anythingElseIsAnError(reply: String) {
        #expect(throws: ClamdError.self) { try ClamdClient.parseReply(reply) }
    }
}

/// What a `webhook` step makes of its receiver's answer.
struct HookAnswerTests {
    @Test(arguments: [
        (200, #"{"outcome": "continue"}"#, PipelineMachine.StepOutcome.passed(detail: nil)),
        (204, #"{"outcome": "continue", "reason": "looks fine"}"#, .passed(detail: "looks fine")),
        (200, #"{"outcome": "reject", "reason": "not a cat"}"#, .rejected(reason: "not a cat")),
        (200, #"{"outcome": "reject"}"#, .rejected(reason: "the hook rejected it")),
        (200, #"{"outcome": "retry", "reason": "busy"}"#, .failed(reason: "busy")),
        (200, #"{"outcome": "maybe"}"#, .failed(reason: "the hook's outcome \"maybe\" is not continue, reject or retry")),
        (200, "not json", .failed(reason: "the hook's answer has no outcome")),
        (200, "[1, 2]", .failed(reason: "the hook's answer has no outcome")),
        (503, #"{"outcome": "continue"}"#, .failed(reason: "the hook answered HTTP 503")),
        (302, "", .failed(reason: "the hook answered HTTP 302")),
    ] as [(Int, String, PipelineMachine.StepOutcome)])
    func answers(status: Int, body: String, expected: PipelineMachine.StepOutcome) {
        #expect(HookAnswer.outcome(status: status, body: Data(body.utf8)) == expected)
    }
}
