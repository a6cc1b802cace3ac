import AsyncHTTPClient
public import Database
import Foundation
public import Logging
import Metrics
import NIOCore
import NIOHTTP1
public import ServiceLifecycle
public import StorageCore
import Telemetry
import Tracing
import WireFormats

/// Delivers the outbox to `WEBHOOK_URL` (docs/contract.md §12.2). Every replica runs one:
/// claims with a lease in Postgres keep two replicas off the same event, and keep events of one
/// key going out one at a time, in commit order. A committed event's NOTIFY wakes it at once;
/// a poll finds retries that came due and anything a lost notification missed.
public struct WebhookDeliverer: Service {
    let database: StorageDatabase
    let settings: WebhookSettings
    let source: EventSource
    /// Finishes once the database is migrated.
    let ready: AsyncStream<Never>
    let logger: Logger

    public init(
        database: StorageDatabase, settings: WebhookSettings, source: EventSource, ready: AsyncStream<Never>, logger: Logger
    ) {
        self.database = database
        self.settings = settings
        self.source = source
        self.ready = ready
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { for await _ in ready {} }
        guard !Task.isShuttingDownGracefully else { return }
        var http = HTTPClient.Configuration()
        http.timeout = .init(connect: .milliseconds(Int64(settings.timeout.milliseconds)))
        http.redirectConfiguration = .disallow
        http.decompression = .disabled
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
        let doorbell = Doorbell()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await database.keepListening(on: eventsChannel, logger: logger) { doorbell.ring() } }
            group.addTask { await deliver(client: client, doorbell: doorbell) }
            // Delivery ends at graceful shutdown, after the attempts in flight; the listener then.
            await group.next()
            group.cancelAll()
        }
        try? await client.shutdown()
    }

    private func deliver(client: HTTPClient, doorbell: Doorbell) async {
        var lastPrune = ContinuousClock.now - .seconds(3600)
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let logger = BackgroundJobLogger.make(logger, job: "webhook-deliverer")
            var claimed = 0
            do {
                claimed = try await pass(client: client, logger: logger)
                if ContinuousClock.now - lastPrune > .seconds(60) {
                    lastPrune = ContinuousClock.now
                    let pruned = try await database.pruneDeliveredEvents(olderThan: settings.retention, logger: logger)
                    if pruned > 0 { logger.info("pruned delivered events", metadata: ["count": "\(pruned)"]) }
                    let backlog = try await database.eventBacklog(logger: logger)
                    EventMetrics.pending.record(backlog.pending)
                    EventMetrics.failedNow.record(backlog.failed)
                }
            } catch {
                logger.warning("event delivery pass failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            // A full batch means more may be due: go on at once.
            if claimed < settings.batchSize {
                await cancelWhenGracefulShutdown { await doorbell.wait(upTo: settings.pollInterval) }
            }
        }
    }

    /// Claims due events and delivers them, `concurrency` at a time; the delivered ones are
    /// recorded together once the batch is through. Returns how many it claimed.
    func pass(client: HTTPClient, logger: Logger) async throws -> Int {
        // Without a receiver nothing is claimed: a claim counts an attempt.
        guard let url = settings.url else { return 0 }
        let events = try await database.claimEvents(limit: settings.batchSize, lease: settings.claimLease, logger: logger)
        guard !events.isEmpty else { return 0 }
        let delivered = await withTaskGroup(of: ClaimedEvent?.self) { group -> [ClaimedEvent] in
            var delivered: [ClaimedEvent] = []
            var running = 0
            for event in events {
                if running >= settings.concurrency, let finished = await group.next() {
                    running -= 1
                    if let finished { delivered.append(finished) }
                }
                group.addTask { await attempt(event, to: url, client: client, logger: logger) ? event : nil }
                running += 1
            }
            for await finished in group { if let finished { delivered.append(finished) } }
            return delivered
        }
        do {
            let marked = try await database.markEventsDelivered(delivered, logger: logger)
            for event in delivered where marked.contains(event.id) {
                EventMetrics.delivered(latency: Date().timeIntervalSince(event.createdAt))
            }
        } catch {
            // The claims run out and the events are sent again: receivers deduplicate on `webhook-id`.
            logger.warning("could not record event deliveries", metadata: [
                "count": "\(delivered.count)", "error": "\(String(reflecting: error))"])
        }
        return events.count
    }

    /// One attempt. Returns true when the receiver acknowledged it (the caller records that);
    /// a failure is recorded here, as a retry or as the last attempt.
    private func attempt(_ event: ClaimedEvent, to url: URL, client: HTTPClient, logger: Logger) async -> Bool {
        // A trace of its own per attempt; async-http-client's span under it carries `traceparent`
        // to the receiver, which can join it.
        await Telemetry.withSpan("webhook.deliver", kind: .producer, logger: logger) { span in
            span.attributes["event.id"] = event.id.uuidString.lowercased()
            span.attributes["event.type"] = event.type
            span.attributes["event.attempt"] = event.attempts
            // The change's request id, which its own trace carries as `request_id`: how a
            // delivery is found from the upload that caused it, and back.
            if span.isRecording, let requestID = (try? JSONValue(parsing: event.document))?["payload"]?["reqId"]?.stringValue {
                span.attributes["event.request_id"] = requestID
            }
            let delivered = await deliver(event, to: url, client: client, logger: logger)
            if !delivered { span.setStatus(SpanStatus(code: .error)) }
            return delivered
        }
    }

    private func deliver(_ event: ClaimedEvent, to url: URL, client: HTTPClient, logger: Logger) async -> Bool {
        let message = WebhookMessage(
            eventID: event.id, document: event.document, source: source, sentAt: Date(),
            apiKey: settings.apiKey, signingSecret: settings.signingSecret)
        let result = await send(message, to: url, client: client)
        let action = settings.policy.action(after: result, attempt: event.attempts, jitter: Double.random(in: 0...1))
        var metadata: Logger.Metadata = [
            "event_id": "\(event.id.uuidString.lowercased())", "type": "\(event.type)", "attempt": "\(event.attempts)",
            "result": "\(result.description)",
        ]
        EventMetrics.attempt(result)
        do {
            switch action {
            case .markDelivered:
                logger.debug("event delivered", metadata: metadata)
                return true
            case .retry(let delay):
                metadata["retry_in_ms"] = "\(Int64(delay.milliseconds))"
                try await database.markEventAttemptFailed(event, retryAfter: delay, error: result.description, logger: logger)
                logger.info("event delivery failed; retrying", metadata: metadata)
            case .markFailed:
                try await database.markEventAttemptFailed(event, retryAfter: nil, error: result.description, logger: logger)
                EventMetrics.failed()
                logger.warning("event delivery failed for the last time", metadata: metadata)
            }
        } catch {
            logger.warning("could not record an event delivery", metadata: metadata.merging([
                "error": "\(String(reflecting: error))"]) { $1 })
        }
        return false
    }

    private func send(_ message: WebhookMessage, to url: URL, client: HTTPClient) async -> DeliveryResult {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        for (name, value) in message.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: message.body))
        do {
            let response = try await client.execute(request, deadline: .now() + .milliseconds(Int64(settings.timeout.milliseconds)), logger: logger)
            // The body is read (and dropped) so the connection can be kept.
            _ = try? await response.body.collect(upTo: 1 << 16)
            let status = Int(response.status.code)
            return (200..<300).contains(status) ? .acknowledged(status: status) : .refused(status: status)
        } catch {
            return .unreachable("\(error)")
        }
    }
}
