import AsyncHTTPClient
import Auth
import Database
import Events
import Foundation
import Logging
import NIOCore
import Processing
import ServiceLifecycle
import StorageCore
import StorageService
import Telemetry
import Synchronization
import WireFormats

/// Runs processing jobs (docs/contract.md §12.3) on every replica: wakes on the notification a
/// new job's transaction sends (and on this replica's own uploads at once), polls for retries
/// that came due and for jobs a dead replica left, and runs up to `concurrency` at a time.
/// Claims with a lease in Postgres keep two replicas off the same job.
struct ProcessingPipeline: Service {
    let service: StorageService
    let database: StorageDatabase
    let settings: ProcessingSettings
    /// Shut down when the pipeline ends.
    let hooks: HTTPProcessingHooks?
    /// Finishes once the database is migrated.
    let ready: AsyncStream<Never>
    let logger: Logger
    static let pollInterval: Duration = .seconds(1)

    func run() async throws {
        await work()
        await hooks?.shutdown()
    }

    private func work() async {
        await cancelWhenGracefulShutdown { for await _ in ready {} }
        guard !Task.isShuttingDownGracefully, let doorbell = service.processingDoorbell else { return }
        let running = JobCount()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await database.keepListening(on: processingChannel, logger: logger) { doorbell.ring() } }
            // Jobs in flight finish at graceful shutdown (their claims would only delay them
            // otherwise); new ones are not claimed.
            await withDiscardingTaskGroup { jobs in
                while !Task.isShuttingDownGracefully, !Task.isCancelled {
                    let logger = BackgroundJobLogger.make(logger, job: "processing")
                    do {
                        // Jobs first (uploads wait for them), then copies to targets in the slots left.
                        var free = settings.concurrency - running.value.load(ordering: .relaxed)
                        for job in try await service.claimProcessingJobs(limit: free, logger: logger) {
                            free -= 1
                            start(in: &jobs, running: running, doorbell: doorbell) { await service.run(job, logger: logger) }
                        }
                        for delivery in try await service.claimProcessingDeliveries(limit: free, logger: logger) {
                            start(in: &jobs, running: running, doorbell: doorbell) { await service.deliver(delivery, logger: logger) }
                        }
                    } catch {
                        logger.warning("processing claim failed", metadata: ["error": "\(String(reflecting: error))"])
                    }
                    await cancelWhenGracefulShutdown { await doorbell.wait(upTo: Self.pollInterval) }
                }
            }
            group.cancelAll()
        }
    }

}

extension ProcessingPipeline {
    /// Runs `work` in `group`, counted in `running`; its end frees a slot and rings the doorbell.
    private func start(
        in group: inout DiscardingTaskGroup, running: JobCount, doorbell: Doorbell, _ work: @escaping @Sendable () async -> Void
    ) {
        running.value.add(1, ordering: .relaxed)
        group.addTask {
            await work()
            running.value.subtract(1, ordering: .relaxed)
            doorbell.ring()
        }
    }
}

/// Jobs a pipeline runs right now, shared with the tasks that run them.
private final class JobCount: Sendable {
    let value = Atomic<Int>(0)
}

/// The `webhook` step's HTTP (async-http-client) and the signed URLs it sends.
final class HTTPProcessingHooks: ProcessingHooks {
    let client: HTTPClient
    let tokens: SignedURLTokens
    /// Where the server is reached from the hook (`STORAGE_PUBLIC_URL`, else its own address).
    let baseURL: String

    init(tokens: SignedURLTokens, baseURL: String) {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.tokens = tokens
        self.baseURL = baseURL
    }

    func ask(_ url: URL, document: JSONValue, timeout: Duration, logger: Logger) async -> PipelineMachine.StepOutcome {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        guard let body = try? JSONEncoder().encode(document) else { return .failed(reason: "the hook's document did not encode") }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(
                request, deadline: .now() + .milliseconds(Int64(timeout.milliseconds)),
                logger: logger)
            let body = try await response.body.collect(upTo: 1 << 16)
            return HookAnswer.outcome(status: Int(response.status.code), body: Data(buffer: body))
        } catch {
            return .failed(reason: "the hook did not answer: \(error)")
        }
    }

    func signedURL(bucketID: String, name: String, version: String, lifetime: Int64) -> String {
        let url = "\(bucketID)/\(name)"
        let token = tokens.downloadToken(url: url, expiresIn: lifetime, version: version)
        let path = url.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? String($0) }
            .joined(separator: "/")
        return "\(baseURL)/object/sign/\(path)?token=\(token)"
    }

    func shutdown() async {
        try? await client.shutdown()
    }
}
