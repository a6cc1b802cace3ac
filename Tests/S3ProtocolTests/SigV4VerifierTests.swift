import Foundation
import S3
import Testing

@testable import S3Protocol

/// The verifier run on the Amazon S3 SigV4 documentation examples (the signer's vectors in
/// reverse): each request as a client would send it, then the same request with one thing wrong.
@Suite struct SigV4VerifierTests {
    static let accessKey = "AKIAIOSFODNN7EXAMPLE"
    static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    /// 20130524T000000Z
    static let signedAt = Date(timeIntervalSince1970: 1_369_353_600)
    static let host = "examplebucket.s3.amazonaws.com"
    static let emptyHash = SigV4Signer.emptyPayloadHash
    let verifier = SigV4Verifier()

    static func secretFor(_ key: String) -> String? { key == accessKey ? secret : nil }

    /// GET /test.txt with a Range, signature f0e8bdb8… in the documentation.
    static var getObject: ReceivedS3Request {
        ReceivedS3Request(method: "GET", rawPath: "/test.txt", headers: [
            ("Host", host), ("Range", "bytes=0-9"), ("x-amz-content-sha256", emptyHash), ("x-amz-date", "20130524T000000Z"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
            ("User-Agent", "not signed, so anything"),
        ])
    }

    func failure(_ request: ReceivedS3Request, at now: Date = signedAt, verifier: SigV4Verifier = SigV4Verifier()) -> S3AuthError? {
        do {
            _ = try verifier.verify(request, now: now, secretFor: Self.secretFor)
            return nil
        } catch {
            return error
        }
    }

    @Test func aSignedGetVerifies() throws {
        let verified = try verifier.verify(Self.getObject, now: Self.signedAt.addingTimeInterval(60), secretFor: Self.secretFor)
        #expect(verified.accessKey == Self.accessKey)
        #expect(verified.payloadHash == Self.emptyHash)
        #expect(verified.securityToken == nil)
        #expect(verified.chunkSigning?.seedSignature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func aChangedSignedHeaderOrMethodOrPathDoesNotVerify() {
        var range = Self.getObject
        range.headers[1].1 = "bytes=0-99"
        #expect(failure(range)?.s3Code == "SignatureDoesNotMatch")
        var method = Self.getObject
        method.method = "DELETE"
        #expect(failure(method)?.s3Code == "SignatureDoesNotMatch")
        var path = Self.getObject
        path.rawPath = "/test.txt2"
        #expect(failure(path)?.httpStatus == 403)
        var missing = Self.getObject
        missing.headers.remove(at: 1)
        #expect(failure(missing)?.s3Code == "SignatureDoesNotMatch")
    }

    @Test func theWrongSecretOrAnUnknownKeyIsRefused() {
        #expect(throws: S3AuthError.self) {
            try verifier.verify(Self.getObject, now: Self.signedAt) { _ in "another secret" }
        }
        do {
            _ = try verifier.verify(Self.getObject, now: Self.signedAt) { _ in nil }
            Issue.record("an unknown access key verified")
        } catch {
            #expect(error.s3Code == "InvalidAccessKeyId")
            #expect(error.httpStatus == 403)
        }
    }

    @Test func aClockTooFarOffIsRefused() {
        #expect(failure(Self.getObject, at: Self.signedAt.addingTimeInterval(14 * 60)) == nil)
        #expect(failure(Self.getObject, at: Self.signedAt.addingTimeInterval(16 * 60))?.s3Code == "RequestTimeTooSkewed")
        #expect(failure(Self.getObject, at: Self.signedAt.addingTimeInterval(-16 * 60))?.s3Code == "RequestTimeTooSkewed")
    }

    @Test func theRegionIsEnforcedOnlyWhenAsked() {
        #expect(failure(Self.getObject, verifier: SigV4Verifier(enforcedRegion: "us-east-1")) == nil)
        let error = failure(Self.getObject, verifier: SigV4Verifier(enforcedRegion: "eu-central-1"))
        #expect(error?.s3Code == "AuthorizationHeaderMalformed")
        #expect(error?.httpStatus == 400)
        #expect(error?.message == "the region 'us-east-1' is wrong; expecting 'eu-central-1'")
    }

    @Test func missingOrForeignAuthorizationIsRefused() {
        var none = Self.getObject
        none.headers.removeAll { $0.0 == "Authorization" }
        #expect(failure(none)?.s3Code == "AccessDenied")
        var v2 = Self.getObject
        v2.headers[4].1 = "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="
        #expect(failure(v2)?.s3Code == "InvalidArgument")
        var broken = Self.getObject
        broken.headers[4].1 = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3,SignedHeaders=host,Signature=00"
        #expect(failure(broken)?.s3Code == "AuthorizationHeaderMalformed")
        var noDate = Self.getObject
        noDate.headers.removeAll { $0.0 == "x-amz-date" }
        #expect(failure(noDate)?.httpStatus == 400)
    }

    /// GET ?max-keys=2&prefix=J, signature 34b48302… in the documentation.
    @Test func aQueryIsCanonicalisedFromWhatWasSent() {
        let list = ReceivedS3Request(method: "GET", rawPath: "/", rawQuery: "prefix=J&max-keys=2", headers: [
            ("Host", Self.host), ("x-amz-content-sha256", Self.emptyHash), ("x-amz-date", "20130524T000000Z"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
        ])
        #expect(failure(list) == nil)
        var other = list
        other.rawQuery = "prefix=K&max-keys=2"
        #expect(failure(other)?.s3Code == "SignatureDoesNotMatch")
    }

    /// PUT /test$file.text, signature 98ad7217… in the documentation: `$` verifies whether the
    /// client sent it raw or percent-encoded.
    @Test func aKeyVerifiesHoweverTheClientEncodedIt() {
        let hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        for path in ["/test$file.text", "/test%24file.text", "/test%24file%2etext"] {
            let put = ReceivedS3Request(method: "PUT", rawPath: path, headers: [
                ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("Host", Self.host), ("x-amz-content-sha256", hash),
                ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
            ])
            #expect(failure(put) == nil, "path \(path)")
        }
    }

    /// The documentation's presigned GET of /test.txt for 86400 s, signature aeeed9bb….
    static let presigned = ReceivedS3Request(
        method: "GET", rawPath: "/test.txt",
        rawQuery: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        headers: [("Host", host)])

    @Test func aPresignedURLVerifiesUntilItExpires() throws {
        let verified = try verifier.verify(Self.presigned, now: Self.signedAt.addingTimeInterval(86_000), secretFor: Self.secretFor)
        #expect(verified.payloadHash == SigV4Signer.unsignedPayload)
        let expired = failure(Self.presigned, at: Self.signedAt.addingTimeInterval(86_401))
        #expect(expired?.s3Code == "AccessDenied")
        #expect(expired?.message == "Request has expired")
        #expect(failure(Self.presigned, at: Self.signedAt.addingTimeInterval(-3600))?.s3Code == "AccessDenied")
        var longer = Self.presigned
        longer.rawQuery = longer.rawQuery.replacingOccurrences(of: "X-Amz-Expires=86400", with: "X-Amz-Expires=86401")
        #expect(failure(longer)?.s3Code == "SignatureDoesNotMatch")
        var tooLong = Self.presigned
        tooLong.rawQuery = tooLong.rawQuery.replacingOccurrences(of: "X-Amz-Expires=86400", with: "X-Amz-Expires=604801")
        #expect(failure(tooLong)?.s3Code == "AuthorizationQueryParametersError")
        var otherKey = Self.presigned
        otherKey.rawPath = "/other.txt"
        #expect(failure(otherKey)?.s3Code == "SignatureDoesNotMatch")
    }

    /// The documentation's `aws-chunked` PUT of 66560 `a`s: seed 4f232c43…, then 64 KiB, 1 KiB and
    /// the empty final chunk, each signature chained on the one before.
    @Test func chunkSignaturesChainOnTheSeed() throws {
        let request = ReceivedS3Request(method: "PUT", rawPath: "/examplebucket/chunkObject.txt", headers: [
            ("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"), ("Content-Length", "66824"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"),
        ])
        let verified = try verifier.verify(request, now: Self.signedAt, secretFor: Self.secretFor)
        #expect(verified.payloadHash == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        let signing = try #require(verified.chunkSigning)
        let first = signing.signature(of: [UInt8](repeating: UInt8(ascii: "a"), count: 65536), previousSignature: signing.seedSignature)
        #expect(first == "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648")
        let second = signing.signature(of: [UInt8](repeating: UInt8(ascii: "a"), count: 1024), previousSignature: first)
        #expect(second == "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497")
        #expect(signing.signature(of: [UInt8](), previousSignature: second)
            == "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9")
        // A chunk out of order does not carry the signature its place needs.
        #expect(signing.signature(of: [UInt8](repeating: UInt8(ascii: "a"), count: 1024), previousSignature: signing.seedSignature) != second)
    }

    @Test func theSessionTokenIsHandedOn() throws {
        let signer = SigV4Signer(accessKey: "project-ref", secretKey: "anon-key", region: "local")
        let headers = signer.signedHeaders(
            method: "GET", encodedPath: "/bucket/a%20b.txt", query: [("x-id", "GetObject")],
            headers: [("host", "127.0.0.1:5000"), ("x-amz-security-token", "user.jwt.here")], date: Self.signedAt)
        let request = ReceivedS3Request(method: "GET", rawPath: "/bucket/a%20b.txt", rawQuery: "x-id=GetObject", headers: headers)
        let verified = try verifier.verify(request, now: Self.signedAt) { $0 == "project-ref" ? "anon-key" : nil }
        #expect(verified.accessKey == "project-ref")
        #expect(verified.securityToken == "user.jwt.here")
        #expect(verified.payloadHash == SigV4Signer.unsignedPayload)
    }

    @Test func timestampsParseStrictly() {
        #expect(SigV4Signer.parseTimestamp("20130524T000000Z") == Self.signedAt)
        #expect(SigV4Signer.parseTimestamp("20130532T000000Z") == nil)
        #expect(SigV4Signer.parseTimestamp("2013-05-24T00:00Z") == nil)
        #expect(SigV4Signer.parseTimestamp("20130524T0000000") == nil)
    }
}
