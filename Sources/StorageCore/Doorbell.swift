import Synchronization

/// Wakes a waiting background worker (the webhook deliverer, the processing pipeline): rung by
/// a notification, by work finishing, or by the poll. A ring with nobody waiting is kept, so a
/// notification between two waits is not lost.
public final class Doorbell: Sendable {
    private let state = Mutex<(rung: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    public init() {}

    public func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.rung = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns at the next ring, after `timeout`, or when the task is cancelled.
    public func wait(upTo timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            // The timer rings only when it runs out, not when the wait ends first.
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    self.ring()
                } catch {}
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { state -> Bool in
                        if state.rung {
                            state.rung = false
                            return true
                        }
                        state.waiter = continuation
                        return false
                    }
                    if now { continuation.resume() }
                }
            } onCancel: {
                self.ring()
            }
            group.cancelAll()
        }
    }
}
