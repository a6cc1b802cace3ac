#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A row of `storage.buckets`.
public struct Bucket: Sendable, Equatable {
    public var id: String
    public var name: String
    /// Deprecated uuid owner column, as text.
    public var owner: String?
    public var ownerID: String?
    public var isPublic: Bool
    public var type: String
    public var fileSizeLimit: Int64?
    public var allowedMimeTypes: [String]?
    public var createdAt: Date?
    public var updatedAt: Date?

    public init(
        id: String, name: String, owner: String?, ownerID: String?, isPublic: Bool, type: String,
        fileSizeLimit: Int64?, allowedMimeTypes: [String]?, createdAt: Date?, updatedAt: Date?
    ) {
        self.id = id
        self.name = name
        self.owner = owner
        self.ownerID = ownerID
        self.isPublic = isPublic
        self.type = type
        self.fileSizeLimit = fileSizeLimit
        self.allowedMimeTypes = allowedMimeTypes
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A row of `storage.objects`.
public struct ObjectRecord: Sendable, Equatable {
    public var id: UUID
    public var bucketID: String
    public var name: String
    public var owner: String?
    public var ownerID: String?
    public var version: String?
    public var createdAt: Date?
    public var updatedAt: Date?
    public var lastAccessedAt: Date?
    public var metadata: JSONValue?
    public var userMetadata: JSONValue?

    public init(
        id: UUID, bucketID: String, name: String, owner: String?, ownerID: String?, version: String?,
        createdAt: Date?, updatedAt: Date?, lastAccessedAt: Date?, metadata: JSONValue?, userMetadata: JSONValue?
    ) {
        self.id = id
        self.bucketID = bucketID
        self.name = name
        self.owner = owner
        self.ownerID = ownerID
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lastAccessedAt = lastAccessedAt
        self.metadata = metadata
        self.userMetadata = userMetadata
    }

    /// The server-owned metadata, read back from the row.
    public var objectMetadata: ObjectMetadata? {
        metadata.map(ObjectMetadata.init(json:))
    }
}

/// The server-owned `objects.metadata` document (contract §5.1).
public struct ObjectMetadata: Sendable, Equatable {
    public var eTag: String?
    public var size: Int64?
    public var mimetype: String?
    public var cacheControl: String?
    /// Backend last-modified time as an ISO-8601 string.
    public var lastModified: String?
    public var contentLength: Int64?
    public var httpStatusCode: Int64?
    public var xRobotsTag: String?

    public init(
        eTag: String?, size: Int64?, mimetype: String?, cacheControl: String?, lastModified: String?,
        contentLength: Int64?, httpStatusCode: Int64? = 200, xRobotsTag: String? = nil
    ) {
        self.eTag = eTag
        self.size = size
        self.mimetype = mimetype
        self.cacheControl = cacheControl
        self.lastModified = lastModified
        self.contentLength = contentLength
        self.httpStatusCode = httpStatusCode
        self.xRobotsTag = xRobotsTag
    }

    /// Reads the known keys of a stored document, ignoring the rest.
    public init(json: JSONValue) {
        self.eTag = json["eTag"]?.stringValue
        self.size = json["size"]?.int64Value
        self.mimetype = json["mimetype"]?.stringValue
        self.cacheControl = json["cacheControl"]?.stringValue
        self.lastModified = json["lastModified"]?.stringValue
        self.contentLength = json["contentLength"]?.int64Value
        self.httpStatusCode = json["httpStatusCode"]?.int64Value
        self.xRobotsTag = json["xRobotsTag"]?.stringValue
    }

    /// The document as stored in `objects.metadata`.
    public var json: JSONValue {
        var members: [String: JSONValue] = [:]
        if let eTag { members["eTag"] = .string(eTag) }
        if let size { members["size"] = .integer(size) }
        if let mimetype { members["mimetype"] = .string(mimetype) }
        if let cacheControl { members["cacheControl"] = .string(cacheControl) }
        if let lastModified { members["lastModified"] = .string(lastModified) }
        if let contentLength { members["contentLength"] = .integer(contentLength) }
        if let httpStatusCode { members["httpStatusCode"] = .integer(httpStatusCode) }
        if let xRobotsTag { members["xRobotsTag"] = .string(xRobotsTag) }
        return .object(members)
    }
}

/// Who owns what a request creates (contract §6.5).
public struct Owner: Sendable, Equatable {
    /// `owner_id`: the JWT `sub` verbatim.
    public var id: String?
    /// `owner`: the `sub` when it is a UUID (versions 0–5, RFC variant), else `nil`.
    public var uuid: String?

    public init(sub: String?) {
        self.id = sub
        self.uuid = sub.flatMap { Self.isRFCUUID($0) ? $0.lowercased() : nil }
    }

    static func isRFCUUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            switch index {
            case 8, 13, 18, 23:
                guard byte == UInt8(ascii: "-") else { return false }
            case 14:
                guard (UInt8(ascii: "0")...UInt8(ascii: "5")).contains(byte) else { return false }
            case 19:
                guard "89abAB".utf8.contains(byte) else { return false }
            default:
                guard isHexDigit(byte) else { return false }
            }
        }
        return true
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
            UInt8(ascii: "A")...UInt8(ascii: "F"):
            return true
        default:
            return false
        }
    }
}

/// Timestamp formatting used on the wire and in metadata: ISO-8601 UTC with milliseconds and `Z`.
public enum Timestamp {
    public static func iso8601(_ date: Date) -> String {
        // Whole milliseconds, truncated like JavaScript's Date; the half-microsecond nudge undoes
        // binary rounding of values such as .770 that Postgres stored exactly.
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000 + 0.0005).rounded(.down))
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let fraction = Int(milliseconds - seconds * 1000)
        let whole = Date(timeIntervalSince1970: Double(seconds))
            .formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
        let padded = fraction < 10 ? "00\(fraction)" : fraction < 100 ? "0\(fraction)" : "\(fraction)"
        return "\(whole.dropLast()).\(padded)Z"
    }

    /// Parses the format `iso8601(_:)` writes (fractional seconds optional).
    public static func parseISO8601(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) {
            return date
        }
        return try? Date.ISO8601FormatStyle().parse(text)
    }
}
