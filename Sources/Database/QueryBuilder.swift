import PostgresNIO
public import StorageCore

/// SQL text fixed in code — column lists, lock clauses, counter columns, schema names, sort
/// columns and orders — and the only text that reaches a query unbound: through `\(sql:)` in a
/// query literal or `QueryBuilder.append(_:)`. Everything else is a bind.
protocol SQLFragment: RawRepresentable, CaseIterable where RawValue == String {}

extension PostgresQuery.StringInterpolation {
    /// A fragment of fixed SQL text (`SQLFragment`), as written.
    mutating func appendInterpolation(sql fragment: some SQLFragment) {
        appendInterpolation(unescaped: fragment.rawValue)
    }
}

/// A query whose shape depends on its inputs (optional filters, the columns an update sets).
/// Its text comes only from string literals and `SQLFragment`s; every value is a bind,
/// numbered as it is added, so no `$N` is counted by hand and no client text reaches the SQL.
/// Fixed-shape queries use `PostgresQuery`'s own interpolation instead.
struct QueryBuilder {
    private var sql: String
    private var binds = PostgresBindings()

    init(_ text: StaticString) {
        sql = "\(text)"
    }

    /// Literal SQL.
    mutating func append(_ text: StaticString) {
        sql += "\(text)"
    }

    /// Fixed SQL text (a column list, a sort column, a direction).
    mutating func append(_ fragment: some SQLFragment) {
        sql += fragment.rawValue
    }

    /// A value, as the next bind.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) {
        binds.append(value)
        sql += "$\(binds.count)"
    }

    /// A value or NULL, as the next bind.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value?) {
        binds.append(value)
        sql += "$\(binds.count)"
    }

    var query: PostgresQuery {
        // Handed over unbound: assembled above from literals and fragments only.
        PostgresQuery(unsafeSQL: sql, binds: binds)
    }
}

/// Column lists in the order the row decoders expect.
enum ColumnList: String, SQLFragment {
    case bucket = """
        id, name, owner::text, owner_id, coalesce(public, false), type::text, file_size_limit,
        array_remove(allowed_mime_types, NULL), created_at, updated_at
        """
    case object = """
        id, bucket_id, name, owner::text, owner_id, version, created_at, updated_at, last_accessed_at,
        metadata, user_metadata
        """
    case multipartUpload = "id, bucket_id, key, version, owner_id, in_progress_size, created_at, user_metadata"
}

/// A row lock clause, or none.
enum RowLock: String, SQLFragment {
    case none = ""
    case forUpdate = " FOR UPDATE"

    init(_ forUpdate: Bool) { self = forUpdate ? .forUpdate : .none }
}

// The domain's sort columns and orders are SQL as they are spelled.
extension ObjectSortColumn: SQLFragment {}
extension BucketListOptions.SortColumn: SQLFragment {}
extension ListSortOrder: SQLFragment {}

extension ListSortOrder {
    init(descending: Bool) { self = descending ? .desc : .asc }

    /// The keyset comparison that continues a walk in this order.
    var continuation: KeysetComparison { self == .desc ? .before : .after }
}

/// `>` or `<`: rows after (or before, descending) a cursor.
enum KeysetComparison: String, SQLFragment {
    case after = ">"
    case before = "<"
}
