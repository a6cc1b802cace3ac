import Foundation
import Testing

@testable import StorageCore

@Suite struct ResumableUploadIDTests {
    @Test(arguments: [("avatars", "a.png"), ("b", "folder/sub folder/(1) it's.txt"), ("b", "a+b=c&d?e"), ("b", "x/")])
    func roundTrips(_ bucket: String, _ name: String) throws {
        let id = ResumableUploadID(bucketID: bucket, name: name, version: "5d2f0c3e-0000-4000-8000-000000000001")
        #expect(!id.encoded.contains("=") && !id.encoded.contains("/") && !id.encoded.contains("+"))
        #expect(try ResumableUploadID(encoded: Substring(id.encoded)) == id)
    }

    @Test func decodesUpstreamsForm() throws {
        // base64url("bucket/folder/file.txt/v1") as upstream's generateUrl writes it.
        let id = try ResumableUploadID(encoded: "YnVja2V0L2ZvbGRlci9maWxlLnR4dC92MQ")
        #expect(id == ResumableUploadID(bucketID: "bucket", name: "folder/file.txt", version: "v1"))
    }

    @Test(arguments: [
        ("", StorageError.invalidUploadID()),
        ("!!!", StorageError.invalidUploadID()),
        (Base64("a/b"), StorageError.invalidUploadID()),
        (Base64("a/b/"), StorageError.invalidUploadID("Version not provided")),
        (Base64("/name/v1"), StorageError.invalidBucketName),
        (Base64("b//v1"), StorageError.invalidKey("")),
        (Base64("b/a\u{1}b/v1"), StorageError.invalidKey("a\u{1}b")),
    ])
    func rejects(_ encoded: String, _ error: StorageError) {
        #expect(throws: error) { try ResumableUploadID(encoded: Substring(encoded)) }
    }

    static func Base64(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

@Suite struct TusHeaderTests {
    @Test func version() throws {
        try TusHeaders.checkVersion("1.0.0")
        #expect(throws: TusErrors.missingVersion) { try TusHeaders.checkVersion(nil) }
        #expect(throws: TusErrors.missingVersion) { try TusHeaders.checkVersion("") }
        #expect(throws: TusErrors.invalidHeader("tus-resumable")) { try TusHeaders.checkVersion("0.2.2") }
    }

    @Test func lengths() throws {
        #expect(try TusHeaders.uploadLength(length: "0", deferLength: nil) == .known(0))
        #expect(try TusHeaders.uploadLength(length: "52428800", deferLength: nil) == .known(52_428_800))
        #expect(try TusHeaders.uploadLength(length: nil, deferLength: "1") == .deferred)
        #expect(throws: TusErrors.invalidLength) { try TusHeaders.uploadLength(length: nil, deferLength: nil) }
        #expect(throws: TusErrors.invalidLength) { try TusHeaders.uploadLength(length: "5", deferLength: "1") }
        #expect(throws: TusErrors.invalidHeader("upload-defer-length")) {
            try TusHeaders.uploadLength(length: nil, deferLength: "0")
        }
        for bad in ["-1", "+5", "007", "1e3", "1.0", " 5", "abc", "99999999999999999999"] {
            #expect(throws: TusErrors.invalidHeader("upload-length"), "\(bad)") {
                try TusHeaders.uploadLength(length: bad, deferLength: nil)
            }
        }
    }

    @Test func offsets() throws {
        #expect(try TusHeaders.offset("0") == 0)
        #expect(try TusHeaders.offset("123") == 123)
        #expect(throws: TusErrors.missingOffset) { try TusHeaders.offset(nil) }
        #expect(throws: TusErrors.invalidHeader("upload-offset")) { try TusHeaders.offset("-3") }
        #expect(try TusHeaders.patchLength(nil) == nil)
        #expect(try TusHeaders.patchLength("10") == 10)
    }

    @Test func patchContentType() throws {
        try TusHeaders.checkPatchContentType("application/offset+octet-stream")
        #expect(throws: TusErrors.missingContentType) { try TusHeaders.checkPatchContentType(nil) }
        #expect(throws: TusErrors.invalidHeader("content-type")) {
            try TusHeaders.checkPatchContentType("application/octet-stream")
        }
        #expect(throws: TusErrors.invalidHeader("content-type")) {
            try TusHeaders.checkPatchContentType("application/offset+octet-stream; charset=x")
        }
    }

    @Test func metadata() throws {
        // tuspy's encoding: standard padded base64, pairs joined by "," without spaces.
        let parsed = try TusHeaders.metadata("bucketName YXZhdGFycw==,objectName Zm9sZGVyL8O8LnBuZw==,flag,empty ")
        #expect(parsed == ["bucketName": "avatars", "objectName": "folder/ü.png", "flag": "", "empty": ""])
        #expect(try TusHeaders.metadata("a YQ==, b Yg==") == ["a": "a", "b": "b"])
        for bad in ["", "a YQ==,a Yg==", "a YQ", "a b c", ",a YQ==", "a YQ==,", "ä YQ==", "a //8=", "a YQ=="  + ",b *"] {
            #expect(throws: TusErrors.invalidHeader("upload-metadata"), "\(bad)") { try TusHeaders.metadata(bad) }
        }
    }

    @Test func checksums() throws {
        // The protocol's example: sha1 of "hello world".
        let sha1 = try UploadChecksum(header: "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=")
        #expect(sha1.algorithm == .sha1 && sha1.digest.count == 20)
        #expect(try UploadChecksum(header: "md5 XrY7u+Ae7tCTyyK7j1rNww==").algorithm == .md5)
        #expect(try UploadChecksum(header: "sha256 uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=").algorithm == .sha256)
        #expect(throws: TusErrors.unsupportedChecksum) { try UploadChecksum(header: "crc32 AAAAAA==") }
        #expect(throws: TusErrors.unsupportedChecksum) { try UploadChecksum(header: "SHA1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=") }
        #expect(throws: TusErrors.invalidHeader("upload-checksum")) { try UploadChecksum(header: "sha1") }
        #expect(throws: TusErrors.invalidHeader("upload-checksum")) { try UploadChecksum(header: "sha1 not-base64!") }
        // A digest of the wrong length for its algorithm.
        #expect(throws: TusErrors.invalidHeader("upload-checksum")) { try UploadChecksum(header: "sha1 XrY7u+Ae7tCTyyK7j1rNww==") }
        #expect(UploadChecksum.supported == "sha256,sha1,md5")
    }
}

@Suite struct ResumableUploadStateTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let later = now.addingTimeInterval(3600)

    static func upload(length: Int64? = 100, offset: Int64 = 0, limit: Int64 = 1000, completed: Bool = false) -> ResumableUpload {
        ResumableUpload(length: length, offset: offset, sizeLimit: limit, expiresAt: later, isCompleted: completed)
    }

    @Test func creation() throws {
        let known = try ResumableUpload.create(length: .known(100), sizeLimit: 100, expiresAt: Self.later)
        #expect(known.length == 100 && known.offset == 0 && known.phase == .receiving)
        let deferred = try ResumableUpload.create(length: .deferred, sizeLimit: 100, expiresAt: Self.later)
        #expect(deferred.length == nil && deferred.phase == .receiving)
        let empty = try ResumableUpload.create(length: .known(0), sizeLimit: 100, expiresAt: Self.later)
        #expect(empty.phase == .assembling)
        #expect(throws: TusErrors.maxSizeExceeded) {
            try ResumableUpload.create(length: .known(101), sizeLimit: 100, expiresAt: Self.later)
        }
    }

    @Test func aChunkAdvancesTheOffsetUntilTheUploadIsComplete() throws {
        var state = Self.upload(length: 100)
        let first = try state.checkPatch(offset: 0, uploadLength: nil, contentLength: 60, at: Self.now)
        #expect(first == .init(length: 100, maximumBytes: 100, declaredBytes: 60))
        try state.received(60, plan: first)
        #expect(state.offset == 60 && state.phase == .receiving && state.percent == 60)
        let second = try state.checkPatch(offset: 60, uploadLength: nil, contentLength: nil, at: Self.now)
        #expect(second.maximumBytes == 40)
        try state.received(40, plan: second)
        #expect(state.phase == .assembling)
        state.markCompleted()
        #expect(state.phase == .completed)
        // A finished upload accepts an empty PATCH at its end (a client re-sending the last step)...
        #expect(try state.checkPatch(offset: 100, uploadLength: nil, contentLength: 0, at: Self.now).maximumBytes == 0)
        // ...but not more bytes, nor another offset.
        #expect(throws: TusErrors.sizeExceeded) { try state.checkPatch(offset: 100, uploadLength: nil, contentLength: 1, at: Self.now) }
        #expect(throws: TusErrors.offsetConflict) { try state.checkPatch(offset: 60, uploadLength: nil, contentLength: 0, at: Self.now) }
    }

    @Test func aPartialChunkMovesTheOffsetByWhatArrived() throws {
        var state = Self.upload(length: 100)
        let plan = try state.checkPatch(offset: 0, uploadLength: nil, contentLength: 100, at: Self.now)
        try state.received(37, plan: plan)
        #expect(state.offset == 37 && state.phase == .receiving)
        #expect(throws: TusErrors.offsetConflict) { try state.checkPatch(offset: 100, uploadLength: nil, contentLength: 0, at: Self.now) }
    }

    @Test func wrongOffsetsConflict() {
        let state = Self.upload(length: 100, offset: 40)
        for offset: Int64 in [0, 39, 41, 100, 1000] {
            #expect(throws: TusErrors.offsetConflict) { try state.checkPatch(offset: offset, uploadLength: nil, contentLength: 1, at: Self.now) }
        }
    }

    @Test func bodiesBeyondTheLengthAreRefusedBeforeReading() {
        let state = Self.upload(length: 100, offset: 40)
        #expect(throws: TusErrors.sizeExceeded) { try state.checkPatch(offset: 40, uploadLength: nil, contentLength: 61, at: Self.now) }
        var counted = state
        #expect(throws: TusErrors.sizeExceeded) {
            try counted.received(61, plan: .init(length: 100, maximumBytes: 60, declaredBytes: nil))
        }
    }

    @Test func deferredLengthIsDeclaredOnceWithinTheLimit() throws {
        var state = Self.upload(length: nil, offset: 0, limit: 1000)
        let open = try state.checkPatch(offset: 0, uploadLength: nil, contentLength: 300, at: Self.now)
        #expect(open == .init(length: nil, maximumBytes: 1000, declaredBytes: 300))
        try state.received(300, plan: open)
        #expect(state.length == nil && state.phase == .receiving && state.percent == nil)
        #expect(throws: TusErrors.maxSizeExceeded) { try state.checkPatch(offset: 300, uploadLength: nil, contentLength: 701, at: Self.now) }
        #expect(throws: TusErrors.maxSizeExceeded) { try state.checkPatch(offset: 300, uploadLength: 1001, contentLength: 0, at: Self.now) }
        #expect(throws: TusErrors.invalidLength) { try state.checkPatch(offset: 300, uploadLength: 299, contentLength: 0, at: Self.now) }
        let closing = try state.checkPatch(offset: 300, uploadLength: 500, contentLength: 200, at: Self.now)
        #expect(closing == .init(length: 500, maximumBytes: 200, declaredBytes: 200))
        try state.received(200, plan: closing)
        #expect(state.length == 500 && state.phase == .assembling)
        // Declared once: even the same value again is refused.
        #expect(throws: TusErrors.invalidLength) { try state.checkPatch(offset: 500, uploadLength: 500, contentLength: 0, at: Self.now) }
        // A deferred upload may declare its length in an empty PATCH that completes it.
        var declaredLast = Self.upload(length: nil, offset: 80)
        let empty = try declaredLast.checkPatch(offset: 80, uploadLength: 80, contentLength: 0, at: Self.now)
        try declaredLast.received(0, plan: empty)
        #expect(declaredLast.phase == .assembling)
    }

    @Test func expiryEndsEverything() {
        for state in [Self.upload(length: 100, offset: 10), Self.upload(length: 100, offset: 100, completed: true)] {
            #expect(state.isExpired(at: Self.later))
            #expect(!state.isExpired(at: Self.now))
            #expect(throws: TusErrors.gone) { try state.status(at: Self.later) }
            #expect(throws: TusErrors.gone) { try state.checkPatch(offset: state.offset, uploadLength: nil, contentLength: 0, at: Self.later) }
        }
    }

    @Test func onlyUnfinishedUploadsTerminate() throws {
        try Self.upload(length: 100, offset: 10).checkTermination()
        try Self.upload(length: 100, offset: 100).checkTermination()
        #expect(throws: TusErrors.finishedTermination) { try Self.upload(length: 100, offset: 100, completed: true).checkTermination() }
    }

    @Test func percentages() {
        #expect(Self.upload(length: 0, offset: 0).percent == 100)
        #expect(Self.upload(length: 200, offset: 50).percent == 25)
        #expect(Self.upload(length: nil, offset: 50).percent == nil)
    }
}

@Suite struct TusErrorTests {
    /// TUS answers carry the real status; the texts are tus-node-server's.
    @Test func statusesAndTexts() {
        #expect(TusErrors.offsetConflict.statusCode == 409 && TusErrors.offsetConflict.httpStatus == 409)
        #expect(TusErrors.offsetConflict.message == "Upload-Offset conflict\n")
        #expect(TusErrors.notFound.statusCode == 404 && TusErrors.gone.statusCode == 410)
        #expect(TusErrors.checksumMismatch.statusCode == 460)
        #expect(TusErrors.locked.statusCode == 423)
        #expect(TusErrors.maxSizeExceeded.message == "Maximum size exceeded\n")
        #expect(TusErrors.missingSignature.message == "Missing x-signature header")
    }
}
