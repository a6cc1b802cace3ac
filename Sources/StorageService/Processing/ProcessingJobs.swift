import Crypto
import Database
import Foundation
public import Logging
import NIOCore
import ObjectStore
import Processing
import StorageCore
import Telemetry
import Tracing
import WireFormats

/// A job's claim ran out and another replica holds it now: this one stops without a word.
struct ProcessingClaimLost: Error {}

extension StorageService {
    /// One pass of a replica's pipeline: claims up to `limit` due jobs and runs each to its
    /// next stop (ready, rejected, or a retry later). Returns the jobs it claimed; `run` is
    /// called once per job, in a task of the caller's.
    public func claimProcessingJobs(limit: Int, logger: Logger) async throws -> [ClaimedProcessingJob] {
        guard let processing, limit > 0 else { return [] }
        return try await database.claimProcessingJobs(limit: limit, lease: processing.settings.lease, logger: logger)
            .map(ClaimedProcessingJob.init)
    }

    /// Runs a claimed job's steps, renewing its claim meanwhile, and settles it; one trace per
    /// run, each step a span in it.
    public func run(_ claimed: ClaimedProcessingJob, logger: Logger) async {
        let job = claimed.job
        var logger = logger
        logger[metadataKey: "processing_job"] = "\(job.id.uuidString.lowercased())"
        logger[metadataKey: "key"] = "\(job.write.bucketID)/\(job.write.name)"
        await Telemetry.withSpan("processing.job", logger: logger) { span in
            span.attributes["processing.job_id"] = job.id.uuidString.lowercased()
            span.attributes["storage.bucket"] = job.write.bucketID
            span.attributes["storage.object"] = job.write.name
            await runSteps(job, logger: logger)
        }
    }

    private func runSteps(_ job: ProcessingJob, logger: Logger) async {
        guard let processing, let token = job.claimToken else { return }
        // A bucket whose rule went away meanwhile (the configuration changed) has its version kept.
        let rule = processingRule(bucketID: job.write.bucketID) ?? BucketProcessing(steps: [])
        do {
            var machine = PipelineMachine(
                restoring: try job.steps.decoding([PipelineMachine.StepRecord].self), attempts: job.attempts, rule: .init(rule))
            var sha256 = job.sha256
            var action = machine.next()
            while true {
                switch action {
                case .run(let index):
                    let name = machine.steps[index].name
                    let started = ContinuousClock.now
                    let (known, stepLogger) = (sha256, logger)
                    let (outcome, digest) = try await Telemetry.withSpan("processing.step", logger: logger) { span in
                        span.attributes["processing.step"] = name
                        let result = try await renewing(job.id, token: token, lease: processing.settings.lease, logger: logger) {
                            await self.runStep(named: name, rule: rule, job: job, sha256: known, logger: stepLogger)
                        }
                        if span.isRecording { span.attributes["processing.outcome"] = "\(result.0)" }
                        return result
                    }
                    sha256 = digest ?? sha256
                    ServiceMetrics.processingStep(name, outcome: outcome, seconds: (ContinuousClock.now - started).milliseconds / 1000)
                    logger.info("processing step finished", metadata: ["step": "\(name)", "outcome": "\(outcome)"])
                    action = machine.finished(step: index, outcome, jitter: .random(in: 0...1))
                    if case .run = action {
                        try await saveProgress(job.id, token: token, machine, sha256: sha256, retryAfter: nil, logger: logger)
                    }
                case .retry(_, let delay):
                    try await saveProgress(job.id, token: token, machine, sha256: sha256, retryAfter: delay, logger: logger)
                    logger.info("processing step will be retried", metadata: ["retry_in_ms": "\(Int64(delay.milliseconds))"])
                    return
                case .promote:
                    try await promote(job, token: token, machine: machine, sha256: sha256, rule: rule, logger: logger)
                    return
                case .reject(let step, let reason):
                    try await reject(job, token: token, machine: machine, message: "\(step): \(reason)", rule: rule, logger: logger)
                    return
                }
            }
        } catch is ProcessingClaimLost {
            logger.info("processing job taken over by another replica")
        } catch {
            // The claim runs out and the job is run again from its last saved step.
            logger.warning("processing job failed; it will be run again", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    private func saveProgress(
        _ id: UUID, token: UUID, _ machine: PipelineMachine, sha256: String?, retryAfter: Duration?, logger: Logger
    ) async throws {
        guard let processing else { return }
        guard try await database.saveProcessingProgress(
            id, token: token, steps: try JSONValue.encoding(machine.steps), attempts: machine.attempts, sha256: sha256,
            retryAfter: retryAfter, lease: processing.settings.lease, logger: logger)
        else { throw ProcessingClaimLost() }
    }

    /// Runs `body` while renewing the claim every third of the lease; a lost claim cancels it.
    private func renewing<Result: Sendable>(
        _ id: UUID, token: UUID, lease: Duration, logger: Logger, _ body: @escaping @Sendable () async -> Result
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { await body() }
            group.addTask {
                while true {
                    try await Task.sleep(for: lease / 3)
                    guard try await self.database.renewProcessingClaim(id, token: token, lease: lease, logger: logger) else {
                        throw ProcessingClaimLost()
                    }
                }
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw ProcessingClaimLost()
        }
    }

    /// One step over the version's bytes. Steps are idempotent: a step run again (its replica
    /// died before saving) comes to the same result.
    /// Returns the step's outcome and, from the `sha256` step, the content's hash.
    private func runStep(
        named name: String, rule: BucketProcessing, job: ProcessingJob, sha256: String?, logger: Logger
    ) async -> (PipelineMachine.StepOutcome, String?) {
        guard let step = rule.steps.first(where: { $0.name == name }) else {
            return (.passed(detail: "no longer configured"), nil)
        }
        var outcome: PipelineMachine.StepOutcome
        let key = backendKey(bucketID: job.write.bucketID, name: job.write.name, version: job.write.version)
        do {
            switch step {
            case .sha256:
                let content = try await store.getObject(key, conditions: ReadConditions(), logger: logger)
                var hasher = SHA256()
                for try await buffer in content.body {
                    buffer.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                }
                let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
                return (.passed(detail: digest), digest)
            case .sniffMime:
                let length = Int64(ContentSniffer.prefixLength)
                let content = try await store.getObject(
                    key, conditions: ReadConditions(range: .from(first: 0, last: length - 1)), logger: logger)
                var prefix: [UInt8] = []
                for try await buffer in content.body {
                    prefix += buffer.readableBytesView.prefix(ContentSniffer.prefixLength - prefix.count)
                    if prefix.count >= ContentSniffer.prefixLength { break }
                }
                let bucket = try await database.rolledBack(systemSession(.objectUpload, logger: logger)) {
                    try await $0.bucket(id: job.write.bucketID)
                }
                outcome = ContentSniffer.judge(
                    declared: job.mimeType ?? "application/octet-stream", content: ContentSniffer.content(of: prefix),
                    allowed: bucket?.allowedMimeTypes)
            case .clamav:
                guard let clamav = processing?.settings.config.clamav else { return (.failed(reason: "clamav is not configured"), nil) }
                let content = try await store.getObject(key, conditions: ReadConditions(), logger: logger)
                switch try await ClamdClient(host: clamav.host, port: clamav.port).scan(content.body) {
                case .clean: outcome = .passed(detail: "clean")
                case .infected(let signature): outcome = .rejected(reason: "\(signature) FOUND")
                }
            case .webhook(let url, let timeout):
                guard let hooks = processing?.settings.hooks else { return (.failed(reason: "no hook client"), nil) }
                outcome = await hooks.ask(url, document: hookDocument(job, sha256: sha256, hooks: hooks), timeout: timeout, logger: logger)
            }
        } catch let error as ClamdError {
            outcome = .failed(reason: error.description)
        } catch {
            outcome = .failed(reason: "\(error)")
        }
        return (outcome, nil)
    }

    /// What a `webhook` step POSTs: the version's details and a URL that downloads it for an hour.
    private func hookDocument(_ job: ProcessingJob, sha256: String?, hooks: any ProcessingHooks) -> JSONValue {
        var document: [String: JSONValue] = [
            "bucketId": .string(job.write.bucketID), "name": .string(job.write.name), "version": .string(job.write.version),
            "metadata": job.write.metadata, "owner": job.write.owner.id.map(JSONValue.string) ?? .null,
            "url": .string(hooks.signedURL(bucketID: job.write.bucketID, name: job.write.name, version: job.write.version, lifetime: 3600)),
        ]
        if let sha256 { document["sha256"] = .string(sha256) }
        if let userMetadata = job.write.userMetadata { document["userMetadata"] = userMetadata }
        return .object(document)
    }

    /// Every step passed: the version becomes the object's row, with its ObjectCreated event and
    /// the replaced version's clean-up, in the transaction that marks the job ready. A new
    /// object (no upsert) whose key another upload took meanwhile is rejected instead.
    private func promote(
        _ job: ProcessingJob, token: UUID, machine: PipelineMachine, sha256: String?, rule: BucketProcessing, logger: Logger
    ) async throws {
        let steps = try JSONValue.encoding(machine.steps)
        var write = job.write
        if let sha256, case .object(var metadata) = write.metadata {
            metadata["sha256"] = .string(sha256)
            write.metadata = .object(metadata)
        }
        do {
            _ = try await commitNewVersion(
                write, upsert: job.upsert, session: systemSession(.objectUpload, logger: logger),
                event: NewVersionEvent(json: job.origin), requestID: job.requestID, discardOnFailure: false, checked: true
            ) { transaction in
                guard try await transaction.finishProcessingJob(
                    job.id, token: token, state: .ready, steps: steps, sha256: sha256, reason: nil, quarantined: false,
                    deliverTo: rule.deliverTo)
                else { throw ProcessingClaimLost() }
            }
        } catch let error as StorageError where error.statusCode < 500 {
            // The key was taken by a new object meanwhile (no upsert), or the bucket was deleted:
            // no retry can change that. Failures of the database itself (5xx) are retried.
            try await reject(job, token: token, machine: machine, message: "commit: \(error.message)", rule: rule, logger: logger)
            return
        }
        ServiceMetrics.processingJobFinished("ready", since: job.createdAt)
        logger.info("processed version is ready")
        processing?.finished(job.id)
    }

    /// A step refused the version: the job ends rejected with an ObjectRejected event, and its
    /// bytes are removed (or kept, under quarantine). The current version is untouched.
    private func reject(
        _ job: ProcessingJob, token: UUID, machine: PipelineMachine, message: String, rule: BucketProcessing, logger: Logger
    ) async throws {
        let steps = try JSONValue.encoding(machine.steps)
        let key = backendKey(bucketID: job.write.bucketID, name: job.write.name, version: job.write.version)
        let quarantine = rule.onReject == .quarantine
        let event = StorageEvent.make(
            .objectRejected, bucketID: job.write.bucketID, name: job.write.name,
            payload: [
                "version": .string(job.write.version), "metadata": job.write.metadata, "reason": .string(message),
                "quarantined": .bool(quarantine),
            ],
            source: settings.events.source, requestID: job.requestID)
        let janitor = self.janitor
        let freed = try await database.internalTransaction(logger: logger) { transaction in
            guard try await transaction.finishProcessingJob(
                job.id, token: token, state: .rejected, steps: steps, sha256: nil, reason: message, quarantined: quarantine,
                deliverTo: [])
            else { throw ProcessingClaimLost() }
            try await self.record([event], in: transaction)
            return quarantine ? [] : try await janitor.record([.object(key)], in: transaction)
        }
        await janitor.finish(freed, logger: logger)
        ServiceMetrics.processingJobFinished("rejected", since: job.createdAt)
        logger.warning("processed version rejected", metadata: ["reason": "\(message)", "quarantined": "\(quarantine)"])
        processing?.finished(job.id)
    }
}

/// A job a pipeline claimed, to hand to `StorageService.run(_:logger:)`.
public struct ClaimedProcessingJob: Sendable {
    let job: ProcessingJob
}

extension ProcessingJob {
    /// The declared type, from the row the job will write.
    var mimeType: String? { write.metadata["mimetype"]?.stringValue }
}
