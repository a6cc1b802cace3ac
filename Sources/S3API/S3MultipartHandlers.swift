import Foundation
import HTTPTypes
import Hummingbird
import ObjectStore
import StorageAPI
import StorageCore
import StorageService

/// Multipart uploads: create, upload part (and part copy), complete, abort, list parts, list uploads.
extension S3Routes {
    func createMultipartUpload(_ call: S3Call, bucket: String, key: String) async throws -> Response {
        let upload = try await service.createMultipartUpload(
            MultipartCreation(
                bucketID: bucket, name: key, mimeType: call.header("content-type") ?? "application/octet-stream",
                cacheControl: call.header("cache-control") ?? "no-cache", userMetadata: try call.userMetadata()),
            caller: call.caller)
        var xml = S3XML()
        xml.open("InitiateMultipartUploadResult")
        xml.element("Bucket", bucket)
        xml.element("Key", key)
        xml.element("UploadId", upload.id)
        xml.close("InitiateMultipartUploadResult")
        return xml.response()
    }

    func uploadPart(_ call: S3Call, bucket: String, key: String) async throws -> Response {
        let (body, length) = try call.body()
        let part = try await service.uploadPart(
            bucketID: bucket, name: key, uploadID: call.query["uploadId"] ?? "", partNumber: try partNumber(call), body: body,
            length: length, caller: call.caller)
        return Response(status: .ok, headers: [.eTag: part.eTag, .contentLength: "0"])
    }

    /// UploadPartCopy: the source (or `x-amz-copy-source-range` of it), read under the caller's
    /// row-level security, streamed into the part.
    func uploadPartCopy(_ call: S3Call, bucket: String, key: String) async throws -> Response {
        let source = try copySource(call)
        var range: ByteRangeRequest?
        if let header = call.header("x-amz-copy-source-range") {
            guard let parsed = ByteRangeRequest(header: header), case .from(_, .some) = parsed else {
                throw S3Failure.invalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last")
            }
            range = parsed
        }
        let download = try await service.download(
            bucketID: source.bucket, name: source.key, caller: call.caller, access: .caller, operation: .objectGetAuthenticated,
            conditions: ReadConditions(range: range))
        if case .rangeNotSatisfiable = download.content.outcome {
            throw S3Failure(code: "InvalidRange", status: 416, message: "The x-amz-copy-source-range is not satisfiable")
        }
        let part = try await service.uploadPart(
            bucketID: bucket, name: key, uploadID: call.query["uploadId"] ?? "", partNumber: try partNumber(call),
            body: download.content.body, length: download.content.contentLength, caller: call.caller)
        var xml = S3XML()
        xml.open("CopyPartResult")
        xml.element("LastModified", Date())
        xml.element("ETag", part.eTag)
        xml.close("CopyPartResult")
        return xml.response()
    }

    private func partNumber(_ call: S3Call) throws(S3Failure) -> Int {
        guard let text = call.query["partNumber"], let number = Int(text), StorageService.partNumbers.contains(number) else {
            throw S3Failure.invalidArgument("Part number must be an integer between 1 and 10000, inclusive")
        }
        return number
    }

    func completeMultipartUpload(_ call: S3Call, bucket: String, key: String) async throws -> Response {
        let document = try await call.xmlBody()
        guard document.name == "CompleteMultipartUpload" else { throw S3Failure.malformedXML }
        let parts = try document.all("Part").map { part throws(S3Failure) -> (number: Int, eTag: String) in
            guard let number = part.value("PartNumber").flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }),
                let eTag = part.value("ETag")
            else { throw S3Failure.malformedXML }
            return (number, eTag)
        }
        let outcome = try await service.completeMultipartUpload(
            bucketID: bucket, name: key, uploadID: call.query["uploadId"] ?? "", parts: parts, caller: call.caller)
        var xml = S3XML()
        xml.open("CompleteMultipartUploadResult")
        xml.element("Location", "/\(bucket)/\(key)")
        xml.element("Bucket", bucket)
        xml.element("Key", key)
        if case .stored(let row) = outcome { xml.element("ETag", row.objectMetadata?.eTag ?? "") }
        xml.close("CompleteMultipartUploadResult")
        return xml.response()
    }

    func abortMultipartUpload(_ call: S3Call, bucket: String, key: String) async throws -> Response {
        try await service.abortMultipartUpload(bucketID: bucket, name: key, uploadID: call.query["uploadId"] ?? "", caller: call.caller)
        return Response(status: .noContent)
    }

    func listParts(_ call: S3Call, bucket: String, key: String) async throws -> Response {
        let uploadID = call.query["uploadId"] ?? ""
        let marker = Int(call.query["part-number-marker"] ?? "0") ?? 0
        let maxParts = min(max(Int(call.query["max-parts"] ?? "1000") ?? 1000, 0), 1000)
        let parts = try await service.listParts(
            bucketID: bucket, name: key, uploadID: uploadID, marker: marker, limit: maxParts + 1, caller: call.caller)
        let page = parts.prefix(maxParts)
        var xml = S3XML()
        xml.open("ListPartsResult")
        xml.element("Bucket", bucket)
        xml.element("Key", key)
        xml.element("UploadId", uploadID)
        xml.element("PartNumberMarker", marker)
        if let last = page.last { xml.element("NextPartNumberMarker", last.number) }
        xml.element("MaxParts", maxParts)
        xml.element("IsTruncated", parts.count > maxParts)
        xml.element("StorageClass", "STANDARD")
        for part in page {
            xml.open("Part", namespace: false)
            xml.element("PartNumber", part.number)
            xml.element("LastModified", part.createdAt)
            xml.element("ETag", part.eTag)
            xml.element("Size", part.size)
            xml.close("Part")
        }
        xml.close("ListPartsResult")
        return xml.response()
    }

    func listMultipartUploads(_ call: S3Call, bucket: String) async throws -> Response {
        let prefix = call.query["prefix"] ?? ""
        let delimiter = call.query["delimiter"].flatMap { $0.isEmpty ? nil : $0 }
        let keyMarker = call.query["key-marker"] ?? ""
        let uploadIDMarker = call.query["upload-id-marker"] ?? ""
        let maxUploads = min(max(Int(call.query["max-uploads"] ?? "1000") ?? 1000, 0), 1000)
        let uploads = try await service.listMultipartUploads(
            bucketID: bucket, prefix: prefix, delimiter: delimiter, keyMarker: keyMarker, uploadIDMarker: uploadIDMarker,
            limit: maxUploads + 1, caller: call.caller)
        let page = uploads.prefix(maxUploads)
        var xml = S3XML()
        xml.open("ListMultipartUploadsResult")
        xml.element("Bucket", bucket)
        xml.element("KeyMarker", keyMarker)
        xml.element("UploadIdMarker", uploadIDMarker)
        if uploads.count > maxUploads, let last = page.last {
            xml.element("NextKeyMarker", last.key)
            xml.element("NextUploadIdMarker", last.id)
        }
        xml.element("Prefix", prefix)
        if let delimiter { xml.element("Delimiter", delimiter) }
        xml.element("MaxUploads", maxUploads)
        xml.element("IsTruncated", uploads.count > maxUploads)
        for upload in page where !upload.id.isEmpty {
            xml.open("Upload", namespace: false)
            xml.element("Key", upload.key)
            xml.element("UploadId", upload.id)
            xml.element("Initiated", upload.createdAt)
            xml.element("StorageClass", "STANDARD")
            xml.close("Upload")
        }
        for upload in page where upload.id.isEmpty {
            xml.open("CommonPrefixes", namespace: false)
            xml.element("Prefix", upload.key)
            xml.close("CommonPrefixes")
        }
        xml.close("ListMultipartUploadsResult")
        return xml.response()
    }
}
