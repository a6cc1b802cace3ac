public import Foundation

/// A `webhook` step's answer (docs/contract.md §12.3): a 2xx with
/// `{"outcome": "continue" | "reject" | "retry", "reason": …}`. Anything else (another status,
/// a body that is not such an object) is a failure to retry, as a refused connection is.
public enum HookAnswer {
    public static func outcome(status: Int, body: Data) -> PipelineMachine.StepOutcome {
        guard (200..<300).contains(status) else { return .failed(reason: "the hook answered HTTP \(status)") }
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let outcome = object["outcome"] as? String
        else { return .failed(reason: "the hook's answer has no outcome") }
        let reason = (object["reason"] as? String).map { String($0.prefix(500)) }
        switch outcome {
        case "continue": return .passed(detail: reason)
        case "reject": return .rejected(reason: reason ?? "the hook rejected it")
        case "retry": return .failed(reason: reason ?? "the hook asked to retry")
        default: return .failed(reason: "the hook's outcome \"\(outcome.prefix(40))\" is not continue, reject or retry")
        }
    }
}
