import Foundation
import HTTPTypes
import Hummingbird
import ObjectStore
import S3
import StorageAPI
import StorageCore
import StorageService
import WireFormats

/// Object operations: Get/Head with Range and conditionals, Put, Copy, Delete, tagging.
extension S3Routes {
    func getObject(_ call: S3Call, bucket: String, key: String) async throws -> Response {
        if call.header("if-match") != nil || call.header("if-unmodified-since") != nil {
            let object = try await service.findObject(
                bucketID: bucket, name: key, caller: call.caller, access: .caller, operation: .objectGetAuthenticated)
            try checkPreconditions(call, object: object)
        }
        let ifNoneMatch = call.header("if-none-match")
        let conditions = ReadConditions(
            range: try call.header("range").map { header throws(S3Failure) -> ByteRangeRequest in
                guard let range = ByteRangeRequest(header: header) else {
                    throw S3Failure(code: "InvalidRange", status: 416, message: "The requested range is not satisfiable")
                }
                return range
            },
            ifNoneMatch: ifNoneMatch,
            ifModifiedSince: ifNoneMatch == nil ? call.header("if-modified-since").flatMap(HTTPDate.parse) : nil)
        let download = try await service.download(
            bucketID: bucket, name: key, caller: call.caller, access: .caller, operation: .objectGetAuthenticated,
            conditions: conditions)
        let content = download.content
        var headers = objectHeaders(download.object, eTag: content.info.eTag, lastModified: content.info.lastModified, call: call)
        let status: HTTPResponse.Status
        switch content.outcome {
        case .whole:
            status = .ok
        case .partial(let range):
            status = .partialContent
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(content.info.size)"
        case .notModified:
            return Response(status: .notModified, headers: [.eTag: content.info.eTag])
        case .rangeNotSatisfiable:
            throw S3Failure(code: "InvalidRange", status: 416, message: "The requested range is not satisfiable")
        }
        headers[.contentLength] = String(content.contentLength)
        return Response(status: status, headers: headers, body: Responses.streaming(content.body, length: content.contentLength))
    }

    func headObject(_ call: S3Call, bucket: String, key: String) async throws -> Response {
        let object = try await service.findObject(
            bucketID: bucket, name: key, caller: call.caller, access: .caller, operation: .objectHeadAuthenticated)
        try checkPreconditions(call, object: object)
        let metadata = object.objectMetadata
        let lastModified = metadata?.lastModified.flatMap(Timestamp.parseISO8601) ?? object.updatedAt ?? Date()
        if let ifNoneMatch = call.header("if-none-match"), let eTag = metadata?.eTag,
            ReadConditions(ifNoneMatch: ifNoneMatch).isNotModified(
                ObjectInfo(size: 0, eTag: eTag, lastModified: lastModified, contentType: nil, cacheControl: nil))
        {
            return Response(status: .notModified, headers: [.eTag: eTag])
        }
        var headers = objectHeaders(object, eTag: metadata?.eTag, lastModified: lastModified, call: call)
        headers[.contentLength] = String(metadata?.size ?? 0)
        return Response(status: .ok, headers: headers)
    }

    /// If-Match and If-Unmodified-Since against the row: 412 when they fail.
    private func checkPreconditions(_ call: S3Call, object: ObjectRecord) throws(S3Failure) {
        let metadata = object.objectMetadata
        let failed = S3Failure(code: "PreconditionFailed", status: 412, message: "At least one of the pre-conditions you specified did not hold")
        if let ifMatch = call.header("if-match") {
            let eTag = metadata?.eTag ?? ""
            let matches = ifMatch.split(separator: ",").contains { candidate in
                let tag = candidate.trimmingCharacters(in: .whitespaces)
                return tag == "*" || StorageService.sameETag(tag, eTag)
            }
            if !matches { throw failed }
        } else if let since = call.header("if-unmodified-since").flatMap(HTTPDate.parse),
            let modified = metadata?.lastModified.flatMap(Timestamp.parseISO8601),
            modified.timeIntervalSince1970.rounded(.down) > since.timeIntervalSince1970
        {
            throw failed
        }
    }

    /// The headers of an object's GET or HEAD: type, ETag, dates, cache control, user metadata,
    /// and the `response-*` overrides a presigned URL may carry.
    private func objectHeaders(_ object: ObjectRecord, eTag: String?, lastModified: Date, call: S3Call) -> HTTPFields {
        let metadata = object.objectMetadata
        var headers: HTTPFields = [.acceptRanges: "bytes", .lastModified: HTTPDate.format(lastModified)]
        if let eTag { headers[.eTag] = eTag }
        headers[.contentType] = metadata?.mimetype ?? "application/octet-stream"
        headers[.cacheControl] = metadata?.cacheControl ?? "no-cache"
        if case .object(let members) = object.userMetadata ?? .null {
            for (name, value) in members.sorted(by: { $0.key < $1.key }) {
                guard let field = HTTPField.Name("x-amz-meta-\(name)") else { continue }
                let text = value.stringValue ?? (try? JSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
                // Header values cannot carry line breaks; such a value is left out rather than mangled.
                if !text.contains(where: { $0 == "\r" || $0 == "\n" }) { headers[field] = text }
            }
        }
        let overrides: [(String, HTTPField.Name)] = [
            ("response-content-type", .contentType), ("response-content-disposition", .contentDisposition),
            ("response-cache-control", .cacheControl), ("response-content-encoding", .contentEncoding),
            ("response-content-language", .contentLanguage), ("response-expires", .expires),
        ]
        for (parameter, field) in overrides {
            if let value = call.query[parameter], !value.contains(where: { $0 == "\r" || $0 == "\n" }) { headers[field] = value }
        }
        return headers
    }

    func putObject(_ call: S3Call, bucket: String, key: String) async throws -> Response {
        let (body, length) = try call.body()
        var upload = UploadRequest(
            bucketID: bucket, name: key, upsert: true,
            mimeType: call.header("content-type") ?? "application/octet-stream",
            cacheControl: call.header("cache-control") ?? "no-cache", userMetadata: try call.userMetadata(),
            declaredLength: length, exactLength: length, body: body, operation: .s3PutObject)
        upload.uploadType = .s3
        let outcome = try await service.upload(upload, caller: call.caller)
        var headers: HTTPFields = [.contentLength: "0"]
        if case .stored(let row) = outcome, let eTag = row.objectMetadata?.eTag { headers[.eTag] = eTag }
        return Response(status: .ok, headers: headers)
    }

    func copyObject(_ call: S3Call, bucket: String, key: String) async throws -> Response {
        let source = try copySource(call)
        let replace = call.header("x-amz-metadata-directive")?.uppercased() == "REPLACE"
        let outcome = try await service.copyObject(
            CopyRequest(
                sourceBucket: source.bucket, sourceKey: source.key, destinationBucket: bucket, destinationKey: key,
                upsert: true, copyMetadata: !replace, mimeType: replace ? call.header("content-type") : nil,
                cacheControl: replace ? call.header("cache-control") : nil, userMetadata: replace ? try call.userMetadata() : nil),
            caller: call.caller)
        var xml = S3XML()
        xml.open("CopyObjectResult")
        if case .stored(let row) = outcome {
            let metadata = row.objectMetadata
            xml.element("LastModified", metadata?.lastModified.flatMap(Timestamp.parseISO8601) ?? Date())
            xml.element("ETag", metadata?.eTag ?? "")
        }
        xml.close("CopyObjectResult")
        return xml.response()
    }

    /// `x-amz-copy-source`: `[/]<bucket>/<key>`, percent-encoded, maybe with `?versionId=`.
    func copySource(_ call: S3Call) throws(S3Failure) -> (bucket: String, key: String) {
        var text = Substring(call.header("x-amz-copy-source") ?? "")
        if let query = text.firstIndex(of: "?") { text = text[..<query] }
        let decoded = String(text).removingPercentEncoding ?? String(text)
        let trimmed = decoded.hasPrefix("/") ? decoded.dropFirst() : Substring(decoded)
        let bucket = trimmed.prefix { $0 != "/" }
        let key = trimmed.dropFirst(bucket.count + 1)
        guard !bucket.isEmpty, !key.isEmpty else { throw S3Failure.invalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey") }
        return (String(bucket), String(key))
    }

    func deleteObject(_ call: S3Call, bucket: String, key: String) async throws -> Response {
        do {
            try await service.deleteObject(bucketID: bucket, name: key, caller: call.caller)
        } catch let error as StorageError where error.code == .noSuchKey {
            // S3 deletes are idempotent: a key that is not there is deleted already.
        }
        return Response(status: .noContent)
    }

    /// Objects carry no tags here: an empty set, once the object is known to exist.
    func tagging(_ call: S3Call, bucket: String, key: String) async throws -> Response {
        _ = try await service.findObject(
            bucketID: bucket, name: key, caller: call.caller, access: .caller, operation: .objectInfoAuthenticated)
        var xml = S3XML()
        xml.open("Tagging")
        xml.open("TagSet", namespace: false)
        xml.close("TagSet")
        xml.close("Tagging")
        return xml.response()
    }
}
