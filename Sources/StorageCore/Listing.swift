#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

// What listings take and give, in the domain's terms: the HTTP layer parses into these, the
// service resolves them, the database turns them into SQL (enum raw values are the only text
// that reaches SQL unbound, so a client-chosen sort column is safe by type).

/// Columns a listing of objects can be ordered by (contract §5.4; list v2 takes all but
/// `last_accessed_at`, §5.5).
public enum ObjectSortColumn: String, Sendable, CaseIterable {
    case name
    case updatedAt = "updated_at"
    case createdAt = "created_at"
    case lastAccessedAt = "last_accessed_at"

    /// The columns list v2 (and its cursor) accepts.
    public static let listV2: [ObjectSortColumn] = [.name, .updatedAt, .createdAt]
}

/// `asc` or `desc`.
public enum ListSortOrder: String, Sendable, CaseIterable {
    case asc, desc
}

/// `GET /bucket` options (contract §4).
public struct BucketListOptions: Sendable, Equatable {
    public enum SortColumn: String, Sendable, CaseIterable { case id, name, createdAt = "created_at", updatedAt = "updated_at" }

    public var limit: Int?
    public var offset: Int?
    public var sortColumn: SortColumn?
    public var descending: Bool
    /// Case-insensitive substring of the name; LIKE wildcards are literal.
    public var search: String?

    public init(limit: Int? = nil, offset: Int? = nil, sortColumn: SortColumn? = nil, descending: Bool = false, search: String? = nil) {
        self.limit = limit
        self.offset = offset
        self.sortColumn = sortColumn
        self.descending = descending
        self.search = search
    }
}

/// A column update that distinguishes "leave alone" from "set, possibly to NULL".
public enum FieldUpdate<Value: Sendable>: Sendable {
    case unchanged
    case set(Value?)
}

/// One row of a listing: an object, or a folder (every column but the name NULL).
public struct ListEntry: Sendable, Equatable {
    /// The path segment at the listing depth (list v2 with delimiter only).
    public var key: String?
    public var name: String
    public var id: UUID?
    public var updatedAt: Date?
    public var createdAt: Date?
    public var lastAccessedAt: Date?
    /// `objects.metadata` as stored, written back to clients as it is.
    public var metadata: StoredJSON?

    public init(
        key: String?, name: String, id: UUID?, updatedAt: Date?, createdAt: Date?, lastAccessedAt: Date?, metadata: StoredJSON?
    ) {
        self.key = key
        self.name = name
        self.id = id
        self.updatedAt = updatedAt
        self.createdAt = createdAt
        self.lastAccessedAt = lastAccessedAt
        self.metadata = metadata
    }

    public var isFolder: Bool { id == nil }
}

/// List v1 parameters (contract §5.4), already normalised by the caller.
public struct ListV1Query: Sendable {
    public var prefix: String
    public var limit: Int
    public var offset: Int
    public var search: String
    public var sortColumn: ObjectSortColumn
    public var sortOrder: ListSortOrder

    public init(
        prefix: String, limit: Int = 100, offset: Int = 0, search: String = "", sortColumn: ObjectSortColumn = .name,
        sortOrder: ListSortOrder = .asc
    ) {
        self.prefix = prefix
        self.limit = limit
        self.offset = offset
        self.search = search
        self.sortColumn = sortColumn
        self.sortOrder = sortOrder
    }
}

/// List v2 parameters (contract §5.5), as the database runs them.
public struct ListV2Query: Sendable {
    public var prefix: String
    /// Rows to fetch (the page size plus one, to learn whether there is more).
    public var limit: Int
    public var withDelimiter: Bool
    public var sortColumn: ObjectSortColumn
    public var descending: Bool
    /// Exclusive cursor: the last name seen (a folder ends with `/`).
    public var startAfter: String?
    /// The last row's sort value (ISO timestamp) when sorting by a timestamp.
    public var sortValueAfter: String?

    public init(
        prefix: String, limit: Int, withDelimiter: Bool, sortColumn: ObjectSortColumn, descending: Bool,
        startAfter: String?, sortValueAfter: String?
    ) {
        self.prefix = prefix
        self.limit = limit
        self.withDelimiter = withDelimiter
        self.sortColumn = sortColumn
        self.descending = descending
        self.startAfter = startAfter
        self.sortValueAfter = sortValueAfter
    }
}
