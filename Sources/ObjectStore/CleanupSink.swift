#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Logging
public import StorageCore

/// Where a store sends clean-ups it could not do at once because the backend failed (aborting a
/// failed multipart upload, deleting bytes a failed write left): a durable queue that retries
/// them, so a crash or an outage does not leave bytes no row refers to.
public protocol CleanupSink: Sendable {
    /// Keeps `cleanups` for a later attempt; `error` is why the first one failed.
    func postpone(_ cleanups: [BackendCleanup], after error: any Error, logger: Logger) async
}

/// A key found in the backend by `ObjectStore.listKeys`.
public struct StoredKey: Sendable, Equatable {
    public var key: String
    /// When its bytes were last written; nil when the backend did not say.
    public var lastModified: Date?

    public init(key: String, lastModified: Date?) {
        self.key = key
        self.lastModified = lastModified
    }
}

extension ObjectStore {
    /// Does the deletes of one clean-up (absent keys are not an error).
    public func performDeletes(of cleanup: BackendCleanup, logger: Logger) async throws {
        switch cleanup {
        case .object(let key), .failedWrite(let key): try await deleteObjects([key], logger: logger)
        case .prefix(let key): try await deleteObjects(under: key, logger: logger)
        case .multipart: break
        }
    }
}
