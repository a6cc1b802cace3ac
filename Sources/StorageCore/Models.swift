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
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        write(date, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `iso8601(date)` to `output`. Years 1–9999 are computed here (a listing page
    /// writes three timestamps per row, and Foundation's formatter was an eighth of its time);
    /// others go through Foundation.
    public static func write(_ date: Date, to output: inout [UInt8]) {
        // Whole milliseconds, truncated like JavaScript's Date; the half-microsecond nudge undoes
        // binary rounding of values such as .770 that Postgres stored exactly.
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000 + 0.0005).rounded(.down))
        let (days, millisecondOfDay) = floorDivision(milliseconds, 86_400_000)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        guard (1...9999).contains(year) else {
            output += foundationISO8601(milliseconds: milliseconds).utf8
            return
        }
        // Spelled out on the stack and appended at once; two digits at a time, as divisions by
        // constants compile to multiplications.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { text in
            func digits(_ value: Int64, at offset: Int) {
                text[offset] = UInt8(ascii: "0") + UInt8(value / 10)
                text[offset + 1] = UInt8(ascii: "0") + UInt8(value % 10)
            }
            digits(year / 100, at: 0)
            digits(year % 100, at: 2)
            text[4] = UInt8(ascii: "-")
            digits(month, at: 5)
            text[7] = UInt8(ascii: "-")
            digits(day, at: 8)
            text[10] = UInt8(ascii: "T")
            digits(millisecondOfDay / 3_600_000, at: 11)
            text[13] = UInt8(ascii: ":")
            digits(millisecondOfDay / 60_000 % 60, at: 14)
            text[16] = UInt8(ascii: ":")
            digits(millisecondOfDay / 1000 % 60, at: 17)
            text[19] = UInt8(ascii: ".")
            text[20] = UInt8(ascii: "0") + UInt8(millisecondOfDay % 1000 / 100)
            digits(millisecondOfDay % 100, at: 21)
            text[23] = UInt8(ascii: "Z")
            output.append(contentsOf: UnsafeBufferPointer(text))
        }
    }

    /// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
    /// `civil_from_days`: eras of 400 years, years starting in March).
    static func civilDate(daysSinceEpoch days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468  // from 0000-03-01
        let era = floorDivision(shifted, 146_097).quotient
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDivision(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = value >= 0 ? value / divisor : (value - divisor + 1) / divisor
        return (quotient, value - quotient * divisor)
    }

    /// The same text through Foundation's formatter, for years outside 1–9999.
    static func foundationISO8601(milliseconds: Int64) -> String {
        let (seconds, fraction) = floorDivision(milliseconds, 1000)
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
