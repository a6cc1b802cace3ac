import NIOCore
import NIOPosix
public import ServiceLifecycle
import Metrics
import Synchronization

/// The bounded pool image work runs on: `workers` threads off the event loop, at most
/// `queueCapacity` requests waiting for one, and a clear refusal beyond that.
///
/// A request holds its slot from before its source is fetched until its result is encoded, so
/// at most `workers` sources are in memory at once whatever the load.
public final class RenderPool: Service, Sendable {
    private struct State: ~Copyable {
        var admission: RenderAdmission
        var waiters: [CheckedContinuation<RenderAdmission.Decision, Never>] = []
    }

    private let threads: NIOThreadPool
    private let state: Mutex<State>
    private let runningGauge = Gauge(label: "storage_render_workers_busy")
    private let waitingGauge = Gauge(label: "storage_render_queue_length")

    public init(workers: Int, queueCapacity: Int) {
        threads = NIOThreadPool(numberOfThreads: workers)
        threads.start()
        state = Mutex(State(admission: RenderAdmission(workers: workers, queueCapacity: queueCapacity)))
    }

    /// Current running and waiting counts (for metrics and tests).
    public var load: (running: Int, waiting: Int) {
        state.withLock { ($0.admission.running, $0.admission.waiting) }
    }

    /// Runs `work` holding a slot: async steps (fetching the source, storing the result) and
    /// `blocking` calls on the pool's threads. Throws `overloaded` when the line is full.
    public func withSlot<Result: Sendable>(
        _ work: (_ blocking: BlockingRunner) async throws -> Result
    ) async throws -> Result {
        // Deciding and joining the line happen under one lock, so a slot handed over never misses its waiter.
        let decision: RenderAdmission.Decision = await withCheckedContinuation { continuation in
            let immediate = state.withLock { state -> RenderAdmission.Decision? in
                let decision = state.admission.arrive()
                guard decision == .wait else { return decision }
                state.waiters.append(continuation)
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
        report()
        guard decision != .refuse else {
            throw ImageTransformError(.overloaded, "all image workers are busy and the queue is full")
        }
        defer { release() }
        return try await work(BlockingRunner(threads: threads))
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<RenderAdmission.Decision, Never>? in
            guard state.admission.depart() else { return nil }
            return state.waiters.removeFirst()
        }
        next?.resume(returning: .run)
        report()
    }

    private func report() {
        let (running, waiting) = load
        runningGauge.record(running)
        waitingGauge.record(waiting)
    }

    /// Runs blocking calls on the pool's threads.
    public struct BlockingRunner: Sendable {
        let threads: NIOThreadPool

        public func run<Result: Sendable>(_ call: @Sendable @escaping () throws -> Result) async throws -> Result {
            do {
                return try await threads.runIfActive(call)
            } catch is NIOThreadPoolError.ThreadPoolInactive {
                throw ImageTransformError(.unavailable, "the image workers have stopped")
            }
        }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await threads.shutdownGracefully()
    }
}
