import PostgresNIO
import StorageCore
import Testing

@testable import Database

/// Queries assembled from parts number their binds themselves and take text only from
/// literals and enum raw values.
@Suite struct QueryBuilderTests {
    @Test func bindsAreNumberedInOrder() {
        var sql = QueryBuilder("SELECT ")
        sql.append(ColumnList.bucket)
        sql.append(" FROM storage.buckets WHERE name ILIKE ")
        sql.bind("%x%")
        sql.append(" ORDER BY ")
        sql.append(ListSortOrder(descending: true))
        sql.append(" LIMIT ")
        sql.bind(Int64(5))
        sql.append(" OFFSET ")
        sql.bind(Int64?.none)
        let query = sql.query
        #expect(query.sql.hasSuffix(" FROM storage.buckets WHERE name ILIKE $1 ORDER BY desc LIMIT $2 OFFSET $3"))
        #expect(query.sql.hasPrefix("SELECT id, name, owner::text"))
        #expect(query.binds.count == 3)
    }

    /// A hostile value stays a bind: the text of the query does not contain it.
    @Test func valuesNeverBecomeText() throws {
        var sql = QueryBuilder("SELECT 1 WHERE name = ")
        sql.bind("x'; DROP TABLE storage.objects; --")
        #expect(sql.query.sql == "SELECT 1 WHERE name = $1")
        #expect(sql.query.binds.count == 1)
    }
}
