import WireFormats

/// The id of a resumable upload as it appears in TUS URLs: unpadded base64url of
/// `<bucket>/<name>/<version>` (contract §5.11; unlike the backend key it leaves out the tenant).
///
/// The id names the object's future version, so a finished upload becomes exactly that version
/// and two uploads of one key never share bytes.
public struct ResumableUploadID: Sendable, Hashable, CustomStringConvertible {
    public let bucketID: String
    public let name: String
    public let version: String

    public init(bucketID: String, name: String, version: String) {
        self.bucketID = bucketID
        self.name = name
        self.version = version
    }

    /// Decodes the last path segment of an upload URL. Bucket and key must be valid, as at creation.
    public init(encoded: Substring) throws(StorageError) {
        guard let bytes = Base64URL.decode(encoded), let text = String(validating: bytes, as: UTF8.self) else {
            throw StorageError.invalidUploadID()
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { throw StorageError.invalidUploadID() }
        guard let version = parts.last, !version.isEmpty else { throw StorageError.invalidUploadID("Version not provided") }
        let bucketID = String(parts[0])
        let name = parts[1..<(parts.count - 1)].joined(separator: "/")
        try BucketName.validate(bucketID)
        try ObjectKey.validate(name)
        self.init(bucketID: bucketID, name: name, version: String(version))
    }

    /// The form used in URLs and as the upload's primary key.
    public var encoded: String { Base64URL.encode(Array("\(bucketID)/\(name)/\(version)".utf8)) }

    public var description: String { encoded }
}
