import PostgresNIO

/// A query whose shape depends on its inputs (optional filters, the columns an update sets).
/// Its text comes only from string literals and enum raw values; every value is a bind,
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

    /// An enum's raw value (a column list, a sort column, a direction): text fixed in code.
    mutating func append<Name: RawRepresentable>(_ name: Name) where Name.RawValue == String {
        sql += name.rawValue
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

    /// A value whose encoding may fail (JSON), as the next bind.
    mutating func bind<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value) throws {
        try binds.append(value)
        sql += "$\(binds.count)"
    }

    /// A value whose encoding may fail, or NULL, as the next bind.
    mutating func bind<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value?) throws {
        try binds.append(value)
        sql += "$\(binds.count)"
    }

    var query: PostgresQuery {
        // The one place text is handed over unbound: assembled above from literals and enum values.
        PostgresQuery(unsafeSQL: sql, binds: binds)
    }
}

/// Column lists in the order the row decoders expect.
enum ColumnList: String {
    case bucket = """
        id, name, owner::text, owner_id, coalesce(public, false), type::text, file_size_limit,
        array_remove(allowed_mime_types, NULL), created_at, updated_at
        """
    case object = """
        id, bucket_id, name, owner::text, owner_id, version, created_at, updated_at, last_accessed_at,
        metadata, user_metadata
        """
}

/// A row lock clause, or none.
enum RowLock: String {
    case none = ""
    case forUpdate = " FOR UPDATE"

    init(_ forUpdate: Bool) { self = forUpdate ? .forUpdate : .none }
}

/// `ASC` or `DESC`.
enum SQLDirection: String {
    case ascending = "ASC"
    case descending = "DESC"

    init(descending: Bool) { self = descending ? .descending : .ascending }
}
