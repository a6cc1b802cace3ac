import Database
import Foundation
public import StorageCore

/// `POST /object/list-v2/:bucket` options (contract §5.5).
public struct ListV2Options: Sendable {
    public var prefix: String
    public var limit: Int
    public var cursor: String?
    public var withDelimiter: Bool
    public var sortColumn: ObjectSortColumn?
    public var sortOrder: ListSortOrder?

    public init(
        prefix: String = "", limit: Int = 1000, cursor: String? = nil, withDelimiter: Bool = false,
        sortColumn: ObjectSortColumn? = nil, sortOrder: ListSortOrder? = nil
    ) {
        self.prefix = prefix
        self.limit = limit
        self.cursor = cursor
        self.withDelimiter = withDelimiter
        self.sortColumn = sortColumn
        self.sortOrder = sortOrder
    }
}

/// One page of list v2.
public struct ListV2Page: Sendable {
    public var hasNext: Bool
    public var nextCursor: String?
    public var nextCursorKey: String?
    /// Folders, named with a trailing `/`.
    public var folders: [ListEntry]
    public var objects: [ListEntry]
}

extension StorageService {
    /// List v2 pages are at most this long.
    public static let listV2MaximumLimit = 1000

    /// List v1 (contract §5.4): one level below `options.prefix`, which is treated as a folder.
    public func listObjects(bucketID: String, options: ListV1Query, caller: Caller) async throws -> [ListEntry] {
        try BucketName.validate(bucketID)
        var query = options
        if !query.prefix.isEmpty, !query.prefix.hasSuffix("/") { query.prefix += "/" }
        // The timestamp path matches with ILIKE; name sort matches by range and needs no escaping.
        if query.sortColumn != .name {
            query.prefix = Transaction.escapeLike(query.prefix)
            query.search = Transaction.escapeLike(query.search)
        }
        let resolved = query
        return try await database.transaction(caller.session(.objectList)) { transaction in
            try await transaction.searchObjects(bucketID: bucketID, resolved)
        }
    }

    public func listObjectsV2(bucketID: String, options: ListV2Options, caller: Caller) async throws -> ListV2Page {
        try BucketName.validate(bucketID)
        let limit = min(max(options.limit, 1), Self.listV2MaximumLimit)
        let cursor = try options.cursor.flatMap { $0.isEmpty ? nil : $0 }.map(ListCursor.init(decoding:))
        // A cursor carries the sort it was issued for, so every page of a walk agrees.
        let sortColumn = cursor?.sortColumn ?? options.sortColumn ?? .name
        let sortOrder = cursor?.sortOrder ?? options.sortOrder ?? .asc
        let query = ListV2Query(
            prefix: options.prefix, limit: limit + 1, withDelimiter: options.withDelimiter,
            sortColumn: sortColumn, descending: sortOrder == .desc,
            startAfter: cursor?.startAfter, sortValueAfter: cursor?.sortColumnAfter)
        var rows = try await database.transaction(caller.session(.objectListV2)) { transaction in
            try await transaction.listObjectsV2(bucketID: bucketID, query)
        }
        let hasNext = rows.count > limit
        if hasNext { rows.removeLast(rows.count - limit) }

        var page = ListV2Page(hasNext: hasNext, folders: [], objects: [])
        for row in rows {
            if row.isFolder {
                var folder = row
                if !folder.name.hasSuffix("/") { folder.name += "/" }
                page.folders.append(folder)
            } else {
                page.objects.append(row)
            }
        }
        if hasNext, let last = rows.last {
            let sortValue: Date? = sortColumn == .createdAt ? last.createdAt : sortColumn == .updatedAt ? last.updatedAt : nil
            page.nextCursor = ListCursor(
                // Name-ordered delimiter listings skip a folder by its `/`-terminated name.
                startAfter: last.isFolder && sortColumn == .name ? last.name + "/" : last.name,
                sortOrder: cursor?.sortOrder ?? options.sortOrder,
                sortColumn: cursor?.sortColumn ?? options.sortColumn,
                sortColumnAfter: sortValue.map(Timestamp.iso8601)
            ).encoded
            page.nextCursorKey = last.name
        }
        return page
    }
}
