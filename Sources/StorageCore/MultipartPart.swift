/// A part of a multipart upload: its number, the backend's ETag for it and its size. The same
/// value whether a resumable upload's backend multipart holds it, an `/s3` upload's backend
/// stored it, or `storage.s3_multipart_uploads_parts` records it.
public struct MultipartPart: Codable, Sendable, Equatable {
    public var number: Int
    /// Quoted entity tag (`"<md5 hex>"` of the part's bytes).
    public var eTag: String
    public var size: Int64

    public init(number: Int, eTag: String, size: Int64) {
        self.number = number
        self.eTag = eTag
        self.size = size
    }
}
