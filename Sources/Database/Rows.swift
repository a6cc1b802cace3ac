import Foundation
public import PostgresNIO
public import NIOCore
public import StorageCore

// jsonb columns (metadata, user_metadata) travel as JSONValue in both directions: encoded by
// Codable, decoded by the single-pass parser (listings decode two documents per row).
extension JSONValue: PostgresEncodable {}

extension JSONValue: PostgresDecodable {
    public init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
        context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        try skipJSONHeader(&buffer, type: type, format: format)
        let parsed = buffer.readableBytesView.withUnsafeBytes { bytes in
            Result { () throws(JSONParseError) -> JSONValue in try JSONValue(parsing: bytes) }
        }
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        self = try parsed.mapError { _ in PostgresDecodingError.Code.failure }.get()
    }
}

/// Moves past what comes before a json or jsonb cell's text: binary jsonb is a version byte (1)
/// and the text; json and text formats are the text alone.
private func skipJSONHeader(_ buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat) throws {
    if type == .jsonb, format == .binary {
        guard buffer.readInteger(as: UInt8.self) == 1 else { throw PostgresDecodingError.Code.failure }
    } else if type != .json, type != .jsonb {
        throw PostgresDecodingError.Code.typeMismatch
    }
}

extension StoredJSON: PostgresDecodable {
    public init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
        context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        try skipJSONHeader(&buffer, type: type, format: format)
        self.init(text: buffer.readBytes(length: buffer.readableBytes) ?? [])
    }
}

extension PostgresRow {
    func decodeBucket() throws -> Bucket {
        let (id, name, owner, ownerID, isPublic, type, limit, mimeTypes, createdAt, updatedAt) = try decode(
            (String, String, String?, String?, Bool, String, Int64?, [String]?, Date?, Date?).self)
        return Bucket(
            id: id, name: name, owner: owner, ownerID: ownerID, isPublic: isPublic, type: type,
            fileSizeLimit: limit, allowedMimeTypes: mimeTypes, createdAt: createdAt, updatedAt: updatedAt)
    }

    func decodeObject() throws -> ObjectRecord {
        var cells = Cells(self)
        return ObjectRecord(
            id: try cells.value(UUID.self), bucketID: try cells.value(String.self), name: try cells.value(String.self),
            owner: try cells.optional(String.self), ownerID: try cells.optional(String.self), version: try cells.optional(String.self),
            createdAt: try cells.optional(Date.self), updatedAt: try cells.optional(Date.self),
            lastAccessedAt: try cells.optional(Date.self), metadata: try cells.optional(JSONValue.self),
            userMetadata: try cells.optional(JSONValue.self))
    }

    /// Listing rows: `key, name, id, updated_at, created_at, last_accessed_at, metadata`.
    func decodeListEntry() throws -> ListEntry {
        var cells = Cells(self)
        return ListEntry(
            key: try cells.optional(String.self), name: try cells.optional(String.self) ?? "", id: try cells.optional(UUID.self),
            updatedAt: try cells.optional(Date.self), createdAt: try cells.optional(Date.self),
            lastAccessedAt: try cells.optional(Date.self), metadata: try cells.optional(StoredJSON.self))
    }
}

/// A row's cells decoded one by one, in order, as concrete types. `PostgresRow.decode((A, B, …).self)`
/// takes PostgresNIO's variadic path, which is not specialized across modules: generic metadata
/// lookups and boxing per cell made it a quarter of a 1000-row listing's CPU time. The value
/// initializers it ends in are inlinable, so here they compile for each type.
struct Cells {
    private var iterator: PostgresRow.Iterator
    private var index = 0

    init(_ row: PostgresRow) { iterator = row.makeIterator() }

    /// The next cell as a non-null `T`.
    mutating func value<T: PostgresDecodable>(_: T.Type) throws -> T {
        guard let value = try optional(T.self) else { throw RowDecodingError(column: index - 1, type: T.self, cause: nil) }
        return value
    }

    /// The next cell as `T`, nil for NULL.
    mutating func optional<T: PostgresDecodable>(_: T.Type) throws -> T? {
        guard let cell = iterator.next() else { throw RowDecodingError(column: index, type: T.self, cause: nil) }
        index += 1
        guard var bytes = cell.bytes else { return nil }
        do {
            return try T(from: &bytes, type: cell.dataType, format: cell.format, context: .default)
        } catch {
            throw RowDecodingError(column: index - 1, type: T.self, cause: error)
        }
    }
}

/// A result cell that is missing, NULL where a value must be, or not of the expected type.
struct RowDecodingError: Error, CustomStringConvertible {
    let column: Int
    let type: Any.Type
    /// The decoder's error; nil when the cell was missing or NULL.
    let cause: (any Error)?

    var description: String {
        "cannot decode column \(column) as \(type)" + (cause.map { ": \($0)" } ?? " (missing or NULL)")
    }
}

extension Array where Element == PostgresRow {
    func buckets() throws -> [Bucket] { try map { try $0.decodeBucket() } }
    func objects() throws -> [ObjectRecord] { try map { try $0.decodeObject() } }
}
