import Database
import Foundation
import Logging
import Processing
public import StorageCore

/// What an upload (or copy) came to.
public enum UploadOutcome: Sendable {
    /// The version is the object's current one.
    case stored(ObjectRecord)
    /// Its steps are still running (or the caller asked not to wait): answer 202 with the
    /// status resource's location.
    case processing(bucketID: String, name: String)
}

/// A new version as `commitNewVersion` left it: the object's row, or a pending job.
enum NewVersion: Sendable {
    case committed(ObjectRecord)
    case pending(ProcessingRuntime.Ticket, bucketID: String, name: String)
}

/// The processing status of a key (`GET /object/status/...`).
public struct ProcessingStatus: Sendable {
    public var state: String
    public var version: String
    public var steps: [(name: String, state: String, detail: String?)]
    public var deliveries: [(target: String, state: String, attempts: Int)]
    public var sha256: String?
    public var reason: String?
}

extension StorageService {
    /// The rule new versions in `bucketID` go through; nil when they are committed at once.
    func processingRule(bucketID: String) -> BucketProcessing? {
        processing?.settings.config.rule(forBucket: bucketID)
    }

    /// Records a new version of a processed bucket as pending, in a transaction of `session`
    /// that holds the key's lock: a new object (no upsert) whose key is taken is refused now.
    /// The bytes are the job's from here; on failure they are removed.
    func recordPendingVersion(
        _ write: ObjectWrite, upsert: Bool, rule: BucketProcessing, session: DatabaseSession, origin: NewVersionEvent,
        requestID: String?, discardOnFailure: Bool, alongside: (@Sendable (Transaction) async throws -> Void)?
    ) async throws -> NewVersion {
        guard let processing else { throw StorageError.internalError("processing is not configured") }
        let machine = PipelineMachine(steps: rule.steps.map(\.name), rule: .init(rule))
        let job = ProcessingJob(
            id: UUID(), write: write, upsert: upsert, origin: origin.json, requestID: requestID,
            steps: try JSONValue.encoding(machine.steps))
        // Registered before the job can finish, so the upload's wait cannot miss it.
        let ticket = processing.register(job.id)
        do {
            try await database.transaction(session) { transaction in
                try await transaction.lockObjectKey(bucketID: write.bucketID, name: write.name)
                try await alongside?(transaction)
                if !upsert, try await transaction.object(bucketID: write.bucketID, name: write.name) != nil {
                    throw StorageError.keyAlreadyExists
                }
                try await transaction.recordProcessingJob(job)
            }
        } catch {
            processing.unregister(ticket)
            if discardOnFailure {
                await janitor.discard([.object(backendKey(bucketID: write.bucketID, name: write.name, version: write.version))], logger: session.logger)
            }
            throw error
        }
        ServiceMetrics.processingJobRecorded()
        processing.doorbell.ring()
        return .pending(ticket, bucketID: write.bucketID, name: write.name)
    }

    /// Waits for a pending version's steps (docs/contract.md §12.3): up to `PROCESSING_WAIT_MS`,
    /// not at all when the caller sent `Prefer: respond-async`. Rejection throws ObjectRejected.
    func settle(_ version: NewVersion, caller: Caller) async throws -> UploadOutcome {
        try await settle(version, respondAsync: caller.request.respondAsync, logger: caller.logger)
    }

    func settle(_ version: NewVersion, respondAsync: Bool, logger: Logger) async throws -> UploadOutcome {
        switch version {
        case .committed(let row):
            return .stored(row)
        case .pending(let ticket, let bucketID, let name):
            guard let processing else { throw StorageError.internalError("processing is not configured") }
            defer { processing.unregister(ticket) }
            if respondAsync { return .processing(bucketID: bucketID, name: name) }
            let deadline = ContinuousClock.now + processing.settings.wait
            while ContinuousClock.now < deadline {
                // A job this replica runs wakes the wait at once; one another replica took is
                // seen by the poll.
                await processing.wait(ticket, upTo: min(deadline - .now, .milliseconds(500)))
                guard let job = try await database.processingJob(ticket.job, logger: logger) else {
                    throw StorageError.internalError("the processing job is gone")
                }
                switch job.state {
                case .pending:
                    continue
                case .rejected:
                    throw StorageError.objectRejected(job.reason ?? "rejected")
                case .ready:
                    let row = try await database.rolledBack(systemSession(.objectInfoAuthenticated, logger: logger)) {
                        try await $0.object(bucketID: bucketID, name: name)
                    }
                    // Replaced again meanwhile: the version this upload made was current once.
                    guard let row else { return .processing(bucketID: bucketID, name: name) }
                    return .stored(row)
                }
            }
            return .processing(bucketID: bucketID, name: name)
        }
    }

    /// The newest job of a key, for its uploader or the service role (`GET /object/status/...`).
    public func processingStatus(bucketID: String, name: String, caller: Caller) async throws -> ProcessingStatus {
        try BucketName.validate(bucketID)
        try ObjectKey.validate(name)
        guard let (job, deliveries) = try await database.latestProcessingJob(bucketID: bucketID, name: name, logger: caller.logger),
            caller.role == "service_role" || (caller.jwt?.sub != nil && caller.jwt?.sub == job.write.owner.id)
        else { throw StorageError.noProcessingStatus }
        return ProcessingStatus(
            state: job.state.rawValue, version: job.write.version, steps: try job.steps.decoding([PipelineMachine.StepRecord].self).map { ($0.name, $0.state.rawValue, $0.detail) },
            deliveries: deliveries.map { ($0.target, $0.state.rawValue, $0.attempts) }, sha256: job.sha256, reason: job.reason)
    }
}

extension NewVersionEvent {
    /// As stored with a pending version, to report once it is ready.
    var json: JSONValue {
        switch self {
        case .copy:
            return .object(["kind": .string("copy")])
        case .upload(let type, let route):
            return .object([
                "kind": .string("upload"), "uploadType": .string(type.rawValue), "route": .string(route == .put ? "put" : "post"),
            ])
        }
    }

    init(json: JSONValue) {
        guard case .object(let fields) = json, fields["kind"] == .string("upload") else {
            self = .copy
            return
        }
        let type = fields["uploadType"].flatMap { if case .string(let text) = $0 { UploadType(rawValue: text) } else { nil } }
        self = .upload(type ?? .standard, route: fields["route"] == .string("put") ? .put : .post)
    }
}

extension JSONValue {
    /// A Codable value as JSON.
    static func encoding(_ value: some Encodable) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
    }

    /// This JSON as a Codable value.
    func decoding<Value: Decodable>(_ type: Value.Type) throws -> Value {
        try JSONDecoder().decode(type, from: JSONEncoder().encode(self))
    }
}
