import Foundation
import StorageCore
import WireFormats

/// A JSON document with ordered object keys, so responses carry upstream's field order.
/// Not `indirect`: arrays already hold their elements out of line, and boxing every case cost
/// a listing page thousands of allocations.
enum JSONOutput: Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case string(String)
    /// An ISO-8601 timestamp with milliseconds (`Timestamp.iso8601`).
    case date(Date)
    /// A UUID in lower case, as Postgres prints it.
    case uuid(UUID)
    case array([JSONOutput])
    case object([(String, JSONOutput)])
    /// A document built here or read from a request, written with sorted keys.
    case value(JSONValue)
    /// A document as Postgres printed it, written as it is (without its whitespace).
    case stored(StoredJSON)

    static func optional(_ text: String?) -> JSONOutput { text.map(JSONOutput.string) ?? .null }
    static func optional(_ number: Int64?) -> JSONOutput { number.map(JSONOutput.integer) ?? .null }
    static func optional(_ value: JSONValue?) -> JSONOutput { value.map(JSONOutput.value) ?? .null }
    static func optional(_ document: StoredJSON?) -> JSONOutput { document.map(JSONOutput.stored) ?? .null }
    /// An ISO-8601 timestamp with milliseconds, or null.
    static func timestamp(_ date: Date?) -> JSONOutput { date.map(JSONOutput.date) ?? .null }

    /// The serialized document.
    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The serialized document, appended byte by byte to one array (a listing page of 1000 rows
    /// is ~340 KB: appending to a `String` spent most of its time in String's bookkeeping, and
    /// writing into a `ByteBuffer` in its checks on every small write).
    var bytes: [UInt8] { bytes(reservingCapacity: 4096) }

    /// The serialized document, written into an array first sized `capacity` (a guess of the
    /// document's size spares a large one its copies while it grows).
    func bytes(reservingCapacity capacity: Int) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(capacity)
        write(to: &output)
        return output
    }

    private func write(to output: inout [UInt8]) {
        switch self {
        case .null: output += "null".utf8
        case .bool(let value): output += (value ? "true" : "false").utf8
        case .integer(let value): output += String(value).utf8
        case .string(let value): JSONString.appendQuoted(value, to: &output)
        case .date(let date):
            output.append(UInt8(ascii: "\""))
            Timestamp.write(date, to: &output)
            output.append(UInt8(ascii: "\""))
        case .uuid(let id):
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 38) { text in
                text[0] = UInt8(ascii: "\"")
                var index = 1
                withUnsafeBytes(of: id.uuid) { bytes in
                    for (position, byte) in bytes.enumerated() {
                        if position == 4 || position == 6 || position == 8 || position == 10 {
                            text[index] = UInt8(ascii: "-")
                            index += 1
                        }
                        text[index] = lowercaseHexDigit(byte >> 4)
                        text[index + 1] = lowercaseHexDigit(byte & 0xF)
                        index += 2
                    }
                }
                text[37] = UInt8(ascii: "\"")
                output.append(contentsOf: UnsafeBufferPointer(text))
            }
        case .array(let values):
            output.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                value.write(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                JSONString.appendQuoted(key, to: &output)
                output.append(UInt8(ascii: ":"))
                value.write(to: &output)
            }
            output.append(UInt8(ascii: "}"))
        case .value(let value): Self.write(value, to: &output)
        case .stored(let document): JSONCompact.append(document.text, to: &output)
        }
    }

    private static func write(_ value: JSONValue, to output: inout [UInt8]) {
        switch value {
        case .null: output += "null".utf8
        case .bool(let flag): output += (flag ? "true" : "false").utf8
        case .integer(let number): output += String(number).utf8
        case .number(let number):
            if number.isFinite {
                output += (number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)).utf8
            } else {
                output += "null".utf8
            }
        case .string(let text): JSONString.appendQuoted(text, to: &output)
        case .array(let values):
            output.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                write(element, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                JSONString.appendQuoted(key, to: &output)
                output.append(UInt8(ascii: ":"))
                write(members[key]!, to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }
}

// MARK: - Entities on the wire

extension JSONOutput {
    /// A bucket (contract §4). `owner` is `""` when unset (QUIRK); `type` is omitted for old clients.
    static func bucket(_ bucket: Bucket, includeType: Bool) -> JSONOutput {
        var members: [(String, JSONOutput)] = [
            ("id", .string(bucket.id)),
            ("name", .string(bucket.name)),
            ("owner", .string(bucket.owner ?? "")),
            ("public", .bool(bucket.isPublic)),
        ]
        if includeType { members.append(("type", .string(bucket.type))) }
        members += [
            ("file_size_limit", .optional(bucket.fileSizeLimit)),
            ("allowed_mime_types", bucket.allowedMimeTypes.map { .array($0.map(JSONOutput.string)) } ?? .null),
            ("created_at", .timestamp(bucket.createdAt)),
            ("updated_at", .timestamp(bucket.updatedAt)),
        ]
        return .object(members)
    }

    /// A full object row, as delete and copy return it. Plain-string columns read `""` when NULL.
    static func objectRow(_ object: ObjectRecord) -> [(String, JSONOutput)] {
        [
            ("name", .string(object.name)),
            ("bucket_id", .string(object.bucketID)),
            ("owner", .string(object.owner ?? "")),
            ("owner_id", .string(object.ownerID ?? "")),
            ("version", .string(object.version ?? "")),
            ("id", .uuid(object.id)),
            ("updated_at", .timestamp(object.updatedAt)),
            ("created_at", .timestamp(object.createdAt)),
            ("last_accessed_at", .timestamp(object.lastAccessedAt)),
            ("metadata", .optional(object.metadata)),
            ("user_metadata", .optional(object.userMetadata)),
        ]
    }

    /// `GET /object/info/…` (contract §5.2).
    static func objectInfo(_ object: ObjectRecord) -> JSONOutput {
        let metadata = object.objectMetadata
        return .object([
            ("id", .uuid(object.id)),
            ("name", .string(object.name)),
            ("version", .optional(object.version)),
            ("bucket_id", .string(object.bucketID)),
            ("size", .optional(metadata?.size)),
            ("content_type", .optional(metadata?.mimetype)),
            ("cache_control", .optional(metadata?.cacheControl)),
            ("etag", .optional(metadata?.eTag)),
            ("metadata", .optional(object.userMetadata)),
            ("last_modified", .timestamp(object.updatedAt)),
            ("created_at", .timestamp(object.createdAt)),
        ])
    }
}
