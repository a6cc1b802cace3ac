/// Work on the backend that must happen even if the process that wanted it dies: bytes a
/// committed change freed, or an upload that never finished (docs/contract.md, "Hardening").
///
/// The transaction that frees bytes records the cleanup, so it survives a crash; any replica's
/// drainer does what the request could not (`storage_api.backend_cleanups`).
public enum BackendCleanup: Sendable, Hashable {
    /// Delete this key.
    case object(String)
    /// Delete every key under this one as a folder (`key/…`): rendered variants of a version,
    /// the temporary pieces of a resumable upload.
    case prefix(String)
    /// A write to this key that may not have finished: abort its multipart uploads, then delete it.
    case write(String)
    /// Abort one multipart upload of the key.
    case multipart(key: String, uploadID: String)

    /// The key the work is about.
    public var key: String {
        switch self {
        case .object(let key), .prefix(let key), .write(let key), .multipart(let key, _): key
        }
    }

    /// The name stored with the row.
    public var kind: String {
        switch self {
        case .object: "object"
        case .prefix: "prefix"
        case .write: "write"
        case .multipart: "multipart"
        }
    }

    /// The upload id of a `multipart` cleanup.
    public var uploadID: String? {
        if case .multipart(_, let uploadID) = self { return uploadID }
        return nil
    }

    /// Rebuilds a cleanup from its stored columns; nil for a kind this version does not know.
    public init?(kind: String, key: String, uploadID: String?) {
        switch kind {
        case "object": self = .object(key)
        case "prefix": self = .prefix(key)
        case "write": self = .write(key)
        case "multipart":
            guard let uploadID else { return nil }
            self = .multipart(key: key, uploadID: uploadID)
        default: return nil
        }
    }
}
