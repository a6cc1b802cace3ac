import Database
import Foundation
public import StorageCore

/// One page of an `/s3` ListObjects (v1 or v2).
public struct S3ListPage: Sendable {
    /// Objects, in key order.
    public var objects: [ListEntry]
    /// Common prefixes, each ending with the delimiter.
    public var commonPrefixes: [String]
    public var isTruncated: Bool
    /// The last key or common prefix of the page: where the next page starts after.
    public var last: String?
}

extension StorageService {
    /// Lists `bucketID` as S3 does (spec §5.13): keys under `prefix` after `startAfter`, keys below
    /// `delimiter` rolled up into common prefixes, at most `maxKeys` entries, under row-level
    /// security. A missing bucket is NoSuchBucket (the REST listing answers an empty list).
    public func listS3Objects(
        bucketID: String, prefix: String, delimiter: String?, startAfter: String?, maxKeys: Int, caller: Caller
    ) async throws -> S3ListPage {
        try BucketName.validate(bucketID)
        let limit = min(max(maxKeys, 0), Self.listV2MaximumLimit)
        let rows = try await database.rolledBack(superuser(caller, .objectListV2)) { transaction -> [ListEntry] in
            guard try await transaction.bucket(id: bucketID) != nil else { throw StorageError.noSuchBucket }
            if limit == 0 { return [] }
            try await transaction.become(caller.session(.objectListV2))
            return try await transaction.listObjectsS3(
                bucketID: bucketID, prefix: prefix, delimiter: delimiter, startAfter: startAfter, limit: limit + 1)
        }
        var page = S3ListPage(objects: [], commonPrefixes: [], isTruncated: rows.count > limit, last: nil)
        for row in rows.prefix(limit) {
            if row.id == nil, let delimiter {
                let common = row.name + delimiter
                page.commonPrefixes.append(common)
                page.last = common
            } else {
                page.objects.append(row)
                page.last = row.name
            }
        }
        return page
    }
}

extension StorageService {
    /// Which of `names` exist in the bucket, whoever may see them (DeleteObjects tells a key it
    /// could not delete from one that was never there).
    public func existingObjectNames(bucketID: String, names: [String], caller: Caller) async throws -> Set<String> {
        try BucketName.validate(bucketID)
        guard !names.isEmpty else { return [] }
        return try await database.rolledBack(superuser(caller, .objectDeleteMany)) { transaction in
            try await transaction.visibleObjectNames(bucketID: bucketID, names: names)
        }
    }
}
