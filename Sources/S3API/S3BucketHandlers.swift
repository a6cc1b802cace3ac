import Foundation
import HTTPTypes
import Hummingbird
import S3
import StorageCore
import StorageService

/// Bucket operations and listings.
extension S3Routes {
    func listBuckets(_ call: S3Call) async throws -> Response {
        let buckets = try await service.listBuckets(caller: call.caller, options: BucketListOptions())
        var xml = S3XML()
        xml.open("ListAllMyBucketsResult")
        xml.open("Owner", namespace: false)
        xml.element("ID", call.caller.owner.id ?? settings.credentials.tenantID)
        xml.element("DisplayName", call.caller.owner.id ?? settings.credentials.tenantID)
        xml.close("Owner")
        xml.open("Buckets", namespace: false)
        for bucket in buckets {
            xml.open("Bucket", namespace: false)
            xml.element("Name", bucket.name)
            xml.element("CreationDate", bucket.createdAt ?? Date(timeIntervalSince1970: 0))
            xml.close("Bucket")
        }
        xml.close("Buckets")
        xml.close("ListAllMyBucketsResult")
        return xml.response()
    }

    func createBucket(_ call: S3Call, bucket: String) async throws -> Response {
        // `x-amz-acl: public-read` is how S3 tools ask for a bucket anyone may read.
        let isPublic = call.header("x-amz-acl").map { $0 == "public-read" || $0 == "public-read-write" } ?? false
        try await service.createBucket(
            BucketCreation(id: bucket, name: bucket, isPublic: isPublic, fileSizeLimit: nil, allowedMimeTypes: nil, type: "STANDARD"),
            caller: call.caller)
        return Response(status: .ok, headers: [.location: "/\(bucket)", .contentLength: "0"])
    }

    func headBucket(_ call: S3Call, bucket: String) async throws -> Response {
        _ = try await service.bucket(id: bucket, caller: call.caller)
        return Response(status: .ok, headers: [HTTPField.Name("x-amz-bucket-region")!: settings.region, .contentLength: "0"])
    }

    func deleteBucket(_ call: S3Call, bucket: String) async throws -> Response {
        try await service.deleteBucket(id: bucket, caller: call.caller)
        return Response(status: .noContent)
    }

    func location() -> Response {
        var xml = S3XML()
        // AWS names us-east-1 with an empty constraint; clients map it back.
        xml.open("LocationConstraint")
        xml.text(settings.region == "us-east-1" ? "" : settings.region)
        xml.close("LocationConstraint")
        return xml.response()
    }

    func versioning() -> Response {
        var xml = S3XML()
        xml.open("VersioningConfiguration")
        xml.close("VersioningConfiguration")
        return xml.response()
    }

    /// ListObjects (v1: markers) and ListObjectsV2 (continuation tokens, start-after, fetch-owner).
    func listObjects(_ call: S3Call, bucket: String, version2: Bool) async throws -> Response {
        let prefix = call.query["prefix"] ?? ""
        let delimiter = call.query["delimiter"].flatMap { $0.isEmpty ? nil : $0 }
        let maxKeys = try call.query["max-keys"].map { text throws(S3Failure) -> Int in
            guard let value = Int(text), value >= 0 else { throw S3Failure.invalidArgument("max-keys must be a non-negative integer") }
            return value
        } ?? 1000
        let urlEncoded = try call.query["encoding-type"].map { value throws(S3Failure) -> Bool in
            guard value == "url" else { throw S3Failure.invalidArgument("Invalid Encoding Method specified in Request") }
            return true
        } ?? false

        var startAfter: String?
        let token = call.query["continuation-token"]
        if version2 {
            if let token {
                guard let data = Data(base64Encoded: token), let decoded = String(data: data, encoding: .utf8) else {
                    throw S3Failure.invalidArgument("The continuation token provided is incorrect")
                }
                startAfter = decoded
            } else {
                startAfter = call.query["start-after"]
            }
        } else {
            startAfter = call.query["marker"]
        }
        // A start inside the prefix's range, or before it, lists the prefix from there.
        if let start = startAfter, start.isEmpty { startAfter = nil }

        let page = try await service.listS3Objects(
            bucketID: bucket, prefix: prefix, delimiter: delimiter, startAfter: startAfter, maxKeys: maxKeys, caller: call.caller)

        var xml = S3XML()
        xml.open("ListBucketResult")
        xml.element("Name", bucket)
        xml.element("Prefix", prefix, urlEncoded: urlEncoded)
        if version2 {
            if let token { xml.element("ContinuationToken", token) }
            if let start = call.query["start-after"] { xml.element("StartAfter", start, urlEncoded: urlEncoded) }
            xml.element("KeyCount", page.objects.count + page.commonPrefixes.count)
        } else {
            xml.element("Marker", call.query["marker"] ?? "", urlEncoded: urlEncoded)
        }
        xml.element("MaxKeys", maxKeys)
        if let delimiter { xml.element("Delimiter", delimiter, urlEncoded: urlEncoded) }
        if urlEncoded { xml.element("EncodingType", "url") }
        xml.element("IsTruncated", page.isTruncated)
        if page.isTruncated, let last = page.last {
            if version2 {
                xml.element("NextContinuationToken", Data(last.utf8).base64EncodedString())
            } else {
                xml.element("NextMarker", last, urlEncoded: urlEncoded)
            }
        }
        let fetchOwner = !version2 || call.query["fetch-owner"] == "true"
        for object in page.objects {
            let metadata = object.metadata?.value.map(ObjectMetadata.init(json:))
            xml.open("Contents", namespace: false)
            xml.element("Key", object.name, urlEncoded: urlEncoded)
            // The stored lastModified is already S3's format (`2026-01-01T00:00:00.000Z`): no parse and print per key.
            if let stored = metadata?.lastModified, stored.utf8.count == 24, stored.hasSuffix("Z") {
                xml.element("LastModified", stored)
            } else {
                xml.element("LastModified", object.updatedAt ?? Date(timeIntervalSince1970: 0))
            }
            xml.element("ETag", metadata?.eTag ?? "")
            xml.element("Size", metadata?.size ?? 0)
            xml.element("StorageClass", "STANDARD")
            if fetchOwner {
                xml.open("Owner", namespace: false)
                xml.element("ID", settings.credentials.tenantID)
                xml.element("DisplayName", settings.credentials.tenantID)
                xml.close("Owner")
            }
            xml.close("Contents")
        }
        for common in page.commonPrefixes {
            xml.open("CommonPrefixes", namespace: false)
            xml.element("Prefix", common, urlEncoded: urlEncoded)
            xml.close("CommonPrefixes")
        }
        xml.close("ListBucketResult")
        return xml.response()
    }

    /// DeleteObjects: up to 1000 keys; keys that are absent count as deleted (as in S3), keys
    /// row-level security keeps the caller from deleting are AccessDenied.
    func deleteObjects(_ call: S3Call, bucket: String) async throws -> Response {
        let document = try await call.xmlBody()
        guard document.name == "Delete" else { throw S3Failure.malformedXML }
        let keys = document.all("Object").compactMap { $0.value("Key") }
        guard !keys.isEmpty, keys.count <= 1000 else { throw S3Failure.malformedXML }
        let quiet = document.value("Quiet")?.lowercased() == "true"
        var invalid: [String] = []
        var valid: [String] = []
        for key in keys {
            if (try? ObjectKey.validate(key)) == nil { invalid.append(key) } else { valid.append(key) }
        }
        _ = try await service.deleteObjects(bucketID: bucket, names: valid, caller: call.caller)
        let remaining = try await service.existingObjectNames(bucketID: bucket, names: valid, caller: call.caller)

        var xml = S3XML()
        xml.open("DeleteResult")
        for key in valid where !remaining.contains(key) && !quiet {
            xml.open("Deleted", namespace: false)
            xml.element("Key", key)
            xml.close("Deleted")
        }
        for (key, code, message) in valid.filter(remaining.contains).map({ ($0, "AccessDenied", "Access Denied") })
            + invalid.map({ ($0, "InvalidKey", "Invalid key: \($0)") })
        {
            xml.open("Error", namespace: false)
            xml.element("Key", key)
            xml.element("Code", code)
            xml.element("Message", message)
            xml.close("Error")
        }
        xml.close("DeleteResult")
        return xml.response()
    }
}
