import Foundation
import StorageCore
import WireFormats

/// A JSON document with ordered object keys, so responses carry upstream's field order.
indirect enum JSONOutput: Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case string(String)
    case array([JSONOutput])
    case object([(String, JSONOutput)])
    /// A stored document (metadata), written with sorted keys.
    case value(JSONValue)

    static func optional(_ text: String?) -> JSONOutput { text.map(JSONOutput.string) ?? .null }
    static func optional(_ number: Int64?) -> JSONOutput { number.map(JSONOutput.integer) ?? .null }
    static func optional(_ value: JSONValue?) -> JSONOutput { value.map(JSONOutput.value) ?? .null }
    /// An ISO-8601 timestamp with milliseconds, or null.
    static func timestamp(_ date: Date?) -> JSONOutput { date.map { .string(Timestamp.iso8601($0)) } ?? .null }

    /// The serialized document.
    var text: String {
        var output = ""
        write(to: &output)
        return output
    }

    private func write(to output: inout String) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .integer(let value): output += String(value)
        case .string(let value): Self.writeString(value, to: &output)
        case .array(let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.write(to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { output += "," }
                Self.writeString(key, to: &output)
                output += ":"
                value.write(to: &output)
            }
            output += "}"
        case .value(let value): Self.write(value, to: &output)
        }
    }

    private static func write(_ value: JSONValue, to output: inout String) {
        switch value {
        case .null: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .integer(let number): output += String(number)
        case .number(let number):
            if number.isFinite {
                output += number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
            } else {
                output += "null"
            }
        case .string(let text): writeString(text, to: &output)
        case .array(let values):
            output += "["
            for (index, element) in values.enumerated() {
                if index > 0 { output += "," }
                write(element, to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { output += "," }
                writeString(key, to: &output)
                output += ":"
                write(members[key]!, to: &output)
            }
            output += "}"
        }
    }

    private static func writeString(_ text: String, to output: inout String) {
        JSONString.appendQuoted(text, to: &output)
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
            ("id", .string(object.id.uuidString.lowercased())),
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
            ("id", .string(object.id.uuidString.lowercased())),
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
