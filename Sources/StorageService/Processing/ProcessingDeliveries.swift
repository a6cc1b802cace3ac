import Database
import Foundation
public import Logging
import ObjectStore
import Processing
import StorageCore
import Telemetry
import Tracing
import WireFormats

/// A delivery a pipeline claimed, to hand to `StorageService.deliver(_:logger:)`.
public struct ClaimedProcessingDelivery: Sendable {
    let delivery: ClaimedDelivery
}

extension StorageService {
    /// Claims up to `limit` due copies of ready versions to their targets.
    public func claimProcessingDeliveries(limit: Int, logger: Logger) async throws -> [ClaimedProcessingDelivery] {
        guard let processing, limit > 0, !processing.settings.targets.isEmpty else { return [] }
        return try await database.claimProcessingDeliveries(limit: limit, lease: processing.settings.lease, logger: logger)
            .map(ClaimedProcessingDelivery.init)
    }

    /// Streams one ready version to one target (docs/contract.md §12.3), at the path the target's
    /// template gives. Idempotent: a copy sent again writes the same bytes to the same path.
    /// Success records an `ObjectDelivered` event with the delivery; a failure is retried with
    /// back-off up to the bucket's `max_attempts`, then the delivery is `failed`.
    public func deliver(_ claimed: ClaimedProcessingDelivery, logger: Logger) async {
        let delivery = claimed.delivery
        var logger = logger
        logger[metadataKey: "processing_job"] = "\(delivery.jobID.uuidString.lowercased())"
        logger[metadataKey: "target"] = "\(delivery.target)"
        await Telemetry.withSpan("processing.deliver", logger: logger) { span in
            span.attributes["processing.job_id"] = delivery.jobID.uuidString.lowercased()
            span.attributes["processing.target"] = delivery.target
            await deliver(delivery, logger: logger)
        }
    }

    private func deliver(_ delivery: ClaimedDelivery, logger: Logger) async {
        guard let processing else { return }
        let rule = processingRule(bucketID: delivery.bucketID) ?? BucketProcessing(steps: [])
        let started = ContinuousClock.now
        var path = ""
        var failure: String?
        if let target = processing.settings.config.targets[delivery.target], let store = processing.settings.targets[delivery.target] {
            path = target.path(bucket: delivery.bucketID, name: delivery.name, sha256: delivery.sha256)
            do {
                let source = try await self.store.getObject(
                    backendKey(bucketID: delivery.bucketID, name: delivery.name, version: delivery.version),
                    conditions: ReadConditions(), logger: logger)
                let mimeType = delivery.metadata["mimetype"]?.stringValue ?? "application/octet-stream"
                let cacheControl = delivery.metadata["cacheControl"]?.stringValue ?? "no-cache"
                _ = try await store.putObject(
                    path, body: source.body, contentLength: source.info.size, contentType: mimeType, cacheControl: cacheControl,
                    logger: logger)
            } catch let error as ObjectStoreError where error.code == .notFound {
                failure = "the version's bytes are gone (it was replaced and removed)"
            } catch {
                failure = "\(error)"
            }
        } else {
            failure = "no target named \(delivery.target) is configured"
        }
        let state: ProcessingDelivery.State
        var retryAfter: Duration?
        if failure == nil {
            state = .delivered
        } else if delivery.attempts < rule.maxAttempts {
            state = .pending
            retryAfter = rule.backoff.delay(afterAttempt: delivery.attempts, jitter: .random(in: 0...1))
        } else {
            state = .failed
        }
        let event = StorageEvent.make(
            .objectDelivered, bucketID: delivery.bucketID, name: delivery.name,
            payload: [
                "version": .string(delivery.version), "metadata": delivery.metadata, "target": .string(delivery.target),
                "path": .string(path),
            ],
            source: settings.events.source, requestID: delivery.requestID)
        let (delay, error) = (retryAfter, failure)
        do {
            let settled = try await database.internalTransaction(logger: logger) { transaction in
                guard try await transaction.settleDelivery(delivery, state: state, retryAfter: delay, error: error) else {
                    return false
                }
                if state == .delivered { try await self.record([event], in: transaction) }
                return true
            }
            guard settled else {
                logger.info("delivery taken over by another replica")
                return
            }
        } catch {
            logger.warning("could not record a delivery; it will be sent again", metadata: ["error": "\(String(reflecting: error))"])
            return
        }
        ServiceMetrics.processingDelivery(delivery.target, state: state.rawValue, seconds: (ContinuousClock.now - started).milliseconds / 1000)
        switch state {
        case .delivered: logger.info("version delivered", metadata: ["path": "\(path)"])
        case .pending: logger.warning("delivery failed; retrying", metadata: ["error": "\(failure ?? "")", "attempt": "\(delivery.attempts)"])
        case .failed: logger.error("delivery failed for the last time", metadata: ["error": "\(failure ?? "")", "attempt": "\(delivery.attempts)"])
        }
    }
}
