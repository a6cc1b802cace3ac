/// Work on the backend that must happen even if the process that wanted it dies: bytes a
/// committed change freed, or a multipart upload a failed write left open (docs/hardening.md).
///
/// The transaction that frees bytes records the cleanup, so it survives a crash; any replica's
/// drainer does what the request could not (`storage_api.backend_cleanups`).
public enum BackendCleanup: Sendable, Hashable {
    /// Delete this key.
    case object(String)
    /// Delete every key under this one as a folder (`key/…`): the rendered variants of a version.
    case prefix(String)
    /// A write to this key that failed part-way: abort its multipart uploads (one whose creation
    /// answer was lost included), then delete it.
    case failedWrite(String)
    /// Abort one multipart upload of the key.
    case multipart(key: String, uploadID: String)

    /// The key the work is about.
    public var key: String {
        switch self {
        case .object(let key), .prefix(let key), .failedWrite(let key), .multipart(let key, _): key
        }
    }

    /// The name stored with the row.
    public var kind: String {
        switch self {
        case .object: "object"
        case .prefix: "prefix"
        case .failedWrite: "failed-write"
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
        case "failed-write": self = .failedWrite(key)
        case "multipart":
            guard let uploadID else { return nil }
            self = .multipart(key: key, uploadID: uploadID)
        default: return nil
        }
    }
}
