import Testing

@testable import S3

/// Span names: each call the client makes is named as the S3 operation it is.
@Suite struct CallOperationTests {
    @Test(arguments: [
        (S3Client.Call(method: .GET, key: "k"), "GetObject"),
        (S3Client.Call(method: .GET, key: "k", query: [("uploadId", "u")]), "ListParts"),
        (S3Client.Call(method: .GET, key: nil, query: [("list-type", "2")]), "ListObjects"),
        (S3Client.Call(method: .GET, key: nil, query: [("uploads", ""), ("prefix", "p")]), "ListMultipartUploads"),
        (S3Client.Call(method: .HEAD, key: "k"), "HeadObject"),
        (S3Client.Call(method: .HEAD, key: nil), "HeadBucket"),
        (S3Client.Call(method: .PUT, key: "k"), "PutObject"),
        (S3Client.Call(method: .PUT, key: "k", headers: [("x-amz-copy-source", "/b/s")]), "CopyObject"),
        (S3Client.Call(method: .PUT, key: "k", query: [("partNumber", "1"), ("uploadId", "u")]), "UploadPart"),
        (S3Client.Call(method: .PUT, key: "k", query: [("partNumber", "1"), ("uploadId", "u")],
                       headers: [("X-Amz-Copy-Source", "/b/s")]), "UploadPartCopy"),
        (S3Client.Call(method: .PUT, key: nil), "CreateBucket"),
        (S3Client.Call(method: .POST, key: "k", query: [("uploads", "")]), "CreateMultipartUpload"),
        (S3Client.Call(method: .POST, key: "k", query: [("uploadId", "u")]), "CompleteMultipartUpload"),
        (S3Client.Call(method: .POST, key: nil, query: [("delete", "")]), "DeleteObjects"),
        (S3Client.Call(method: .DELETE, key: "k"), "DeleteObject"),
        (S3Client.Call(method: .DELETE, key: "k", query: [("uploadId", "u")]), "AbortMultipartUpload"),
        (S3Client.Call(method: .DELETE, key: nil), "DeleteBucket"),
    ])
    func namesTheOperation(_ call: S3Client.Call, _ operation: String) {
        #expect(call.operation == operation)
    }
}
