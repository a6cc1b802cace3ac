#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The opaque list-v2 continuation token (contract §5.5): base64 of newline-joined `k:v` pairs —
/// `l` the last name returned, `o` the sort order, `c` the sort column, `a` the last row's sort
/// value — in upstream's format. A folder's `l` ends with `/`, so the next page can skip the
/// folder without confusing it with a file of the same name.
public struct ListCursor: Sendable, Equatable {
    public var startAfter: String
    public var sortOrder: ListSortOrder?
    public var sortColumn: ObjectSortColumn?
    public var sortColumnAfter: String?

    public init(
        startAfter: String, sortOrder: ListSortOrder? = nil, sortColumn: ObjectSortColumn? = nil, sortColumnAfter: String? = nil
    ) {
        self.startAfter = startAfter
        self.sortOrder = sortOrder
        self.sortColumn = sortColumn
        self.sortColumnAfter = sortColumnAfter
    }

    static let invalid = StorageError.invalidParameter("Invalid Parameter continuation token")

    /// The token text.
    public var encoded: String {
        let parts = [("l", startAfter), ("o", sortOrder?.rawValue), ("c", sortColumn?.rawValue), ("a", sortColumnAfter)]
            .compactMap { key, value in value.flatMap { $0.isEmpty ? nil : "\(key):\($0)" } }
        return Data(parts.joined(separator: "\n").utf8).base64EncodedString()
    }

    /// Parses a token, throwing `InvalidParameter` for anything this server did not issue.
    public init(decoding token: String) throws(StorageError) {
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8), !text.isEmpty else {
            throw Self.invalid
        }
        var cursor = ListCursor(startAfter: "", sortOrder: .asc)
        for part in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard part.count >= 2, part.dropFirst().first == ":" else { throw Self.invalid }
            let value = String(part.dropFirst(2))
            switch part.first {
            case "l": cursor.startAfter = value
            case "o":
                guard let order = ListSortOrder(rawValue: value) else { throw Self.invalid }
                cursor.sortOrder = order
            case "c":
                guard let column = ObjectSortColumn(rawValue: value), ObjectSortColumn.listV2.contains(column) else {
                    throw Self.invalid
                }
                cursor.sortColumn = column
            case "a":
                // The last row's sort value, as this server writes it: it reaches Postgres as a
                // timestamp, so anything else would fail there instead of here.
                guard Self.isTimestamp(value) else { throw Self.invalid }
                cursor.sortColumnAfter = value
            default: throw Self.invalid
            }
        }
        self = cursor
    }

    /// ISO 8601 as `Timestamp.iso8601` writes it (fractional seconds optional).
    static func isTimestamp(_ value: String) -> Bool {
        (try? Date(value, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) != nil
            || (try? Date(value, strategy: Date.ISO8601FormatStyle())) != nil
    }
}
