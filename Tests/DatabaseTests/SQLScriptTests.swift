import Testing

@testable import Database

@Suite struct SQLScriptTests {
    @Test func splitsTopLevelStatements() {
        #expect(SQLScript.statements(in: "select 1; select 2;\n\nselect 3") == ["select 1", "select 2", "select 3"])
    }

    @Test func keepsSemicolonsInsideQuotesAndComments() {
        let script = """
            insert into t values ('a;b', 'it''s; fine', E'back\\';slash');
            select "we;ird" from x; -- comment; with semicolon
            /* block; /* nested; */ still; */ select 2;
            """
        #expect(SQLScript.statements(in: script) == [
            "insert into t values ('a;b', 'it''s; fine', E'back\\';slash')",
            "select \"we;ird\" from x",
            "-- comment; with semicolon\n/* block; /* nested; */ still; */ select 2",
        ])
    }

    @Test func keepsDollarQuotedBodiesWhole() {
        let script = """
            create function f() returns int language plpgsql as $$
            begin
              perform 1; return $1;
            end $$;
            do $tag$ begin execute $q$select 1; select 2$q$; end $tag$;
            select $1, a$b from t
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 3)
        #expect(statements[0].hasPrefix("create function f()") && statements[0].hasSuffix("end $$"))
        #expect(statements[1] == "do $tag$ begin execute $q$select 1; select 2$q$; end $tag$")
        #expect(statements[2] == "select $1, a$b from t")
    }

    @Test func dropsEmptyChunks() {
        #expect(SQLScript.statements(in: ";;\n -- only a comment\n;  ") == [])
        #expect(SQLScript.statements(in: "") == [])
    }

    @Test func everyBundledMigrationSplitsIntoCompleteStatements() throws {
        for migration in try Migration.bundled() {
            let statements = SQLScript.statements(in: migration.sql)
            #expect(!statements.isEmpty, "\(migration.fileName) has no statement")
            for statement in statements {
                // Dollar quotes must be balanced inside each statement.
                #expect(statement.components(separatedBy: "$$").count % 2 == 1, "\(migration.fileName): \(statement.prefix(60))")
            }
        }
    }
}

@Suite struct MigrationCatalogueTests {
    /// Upstream's ids and names (contract §9.4); a database migrated by either implementation must be
    /// accepted by the other.
    static let upstreamNames = [
        "initialmigration", "storage-schema", "pathtoken-column", "add-migrations-rls", "add-size-functions",
        "change-column-name-in-get-size", "add-rls-to-buckets", "add-public-to-buckets", "fix-search-function",
        "search-files-search-function", "add-trigger-to-auto-update-updated_at-column", "add-automatic-avif-detection-flag",
        "add-bucket-custom-limits", "use-bytes-for-max-size", "add-can-insert-object-function", "add-version",
        "drop-owner-foreign-key", "add_owner_id_column_deprecate_owner", "alter-default-value-objects-id",
        "list-objects-with-delimiter", "s3-multipart-uploads", "s3-multipart-uploads-big-ints", "optimize-search-function",
        "operation-function", "custom-metadata", "objects-prefixes", "search-v2", "object-bucket-name-sorting",
        "create-prefixes", "update-object-levels", "objects-level-index", "backward-compatible-index-on-objects",
        "backward-compatible-index-on-prefixes", "optimize-search-function-v1", "add-insert-trigger-prefixes",
        "optimise-existing-functions", "add-bucket-name-length-trigger", "iceberg-catalog-flag-on-buckets",
        "add-search-v2-sort-support", "fix-prefix-race-conditions-optimized", "add-object-level-update-trigger",
        "rollback-prefix-triggers", "fix-object-level", "vector-bucket-type", "vector-buckets", "buckets-objects-grants",
        "iceberg-table-metadata", "iceberg-catalog-ids", "buckets-objects-grants-postgres", "search-v2-optimised",
        "index-backward-compatible-search", "drop-not-used-indexes-and-functions", "drop-index-lower-name",
        "drop-index-object-level", "prevent-direct-deletes", "fix-optimized-search-function",
        "s3-multipart-uploads-metadata", "operation-ergonomics", "drop-unused-functions",
        "optimize-existing-functions-again", "mark-filename-immutable", "object-versioning-core",
        "fix-search-name-relative-to-prefix",
    ]

    @Test func idsAndNamesMatchUpstream() throws {
        let migrations = try Migration.bundled()
        #expect(migrations.map(\.id) == Array(1...63))
        #expect(migrations.map(\.name) == Self.upstreamNames)
    }

    @Test func parsesFileNames() {
        let migration = Migration(fileName: "00010-search-files-search-function.sql", sql: "select 1")
        #expect(migration?.id == 10 && migration?.name == "search-files-search-function")
        #expect(Migration(fileName: "README.md", sql: "") == nil)
        #expect(Migration(fileName: "x-no-number.sql", sql: "") == nil)
    }

    @Test func hashesLikeUpstreamsRunner() throws {
        // Upstream's recorded hash of its 0001 file ("select 1", no trailing newline).
        let upstream = try #require(Migration(fileName: "0001-initialmigration.sql", sql: "select 1"))
        #expect(upstream.hash == "6ab16121fbaa08bbd11b712d05f358f9b555d777")
    }
}

@Suite struct ListingBoundTests {
    /// Every key starting with the prefix sorts in [prefix, bound) in byte order, and nothing else does.
    @Test func upperBoundsOfPrefixes() {
        #expect(Transaction.prefixUpperBound("a") == "b")
        #expect(Transaction.prefixUpperBound("dir-042/") == "dir-0420")
        #expect(Transaction.prefixUpperBound("caf\u{E9}") == "caf\u{EA}")
        #expect(Transaction.prefixUpperBound("\u{D7FF}") == "\u{E000}")
        #expect(Transaction.prefixUpperBound("a\u{10FFFF}") == "b")
        #expect(Transaction.prefixUpperBound("\u{10FFFF}") == nil)
        let prefix = "photos/\u{1F600}"
        let bound = Transaction.prefixUpperBound(prefix)!
        for key in [prefix, prefix + "\u{10FFFF}", prefix + "/x"] {
            #expect(Array(key.utf8).lexicographicallyPrecedes(Array(bound.utf8)))
        }
        #expect(!Array("photos/\u{1F601}".utf8).lexicographicallyPrecedes(Array(bound.utf8)))
    }
}
