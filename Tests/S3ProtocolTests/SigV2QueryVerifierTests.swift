import Foundation
import Testing

@testable import S3Protocol

/// Signature Version 2 presigned URLs, on the example of the Amazon S3 documentation
/// ("Query string request authentication alternative"): the puppy.jpg URL of johnsmith.
@Suite struct SigV2QueryVerifierTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let expires = Date(timeIntervalSince1970: 1_175_139_620)

    static func request(signature: String = "NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D", path: String = "/johnsmith/photos/puppy.jpg") -> ReceivedS3Request {
        ReceivedS3Request(
            method: "GET", rawPath: path,
            rawQuery: "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=\(signature)",
            headers: [("Host", "s3.amazonaws.com")])
    }

    func verify(_ request: ReceivedS3Request, at now: Date) throws(S3AuthError) -> VerifiedS3Request {
        try SigV4Verifier().verify(request, now: now) { $0 == "AKIAIOSFODNN7EXAMPLE" ? Self.secret : nil }
    }

    @Test func theDocumentedURLVerifiesUntilItExpires() throws {
        let verified = try verify(Self.request(), at: Self.expires.addingTimeInterval(-60))
        #expect(verified.accessKey == "AKIAIOSFODNN7EXAMPLE")
        #expect(verified.payloadHash == "UNSIGNED-PAYLOAD")
        #expect(throws: S3AuthError.self) { try verify(Self.request(), at: Self.expires.addingTimeInterval(1)) }
        #expect((try? verify(Self.request(), at: Self.expires.addingTimeInterval(1)))?.accessKey == nil)
    }

    @Test func anotherPathOrSignatureFails() {
        let early = Self.expires.addingTimeInterval(-60)
        for request in [Self.request(path: "/johnsmith/photos/kitten.jpg"), Self.request(signature: "AAAAjnDzrM%2BWFzoENXmpNDUsSn8%3D")] {
            do {
                _ = try verify(request, at: early)
                Issue.record("verified a changed request")
            } catch {
                #expect(error.s3Code == "SignatureDoesNotMatch")
                #expect(error.httpStatus == 403)
            }
        }
    }

    @Test func expiredIsAccessDenied() {
        do {
            _ = try verify(Self.request(), at: Self.expires.addingTimeInterval(3600))
            Issue.record("verified an expired URL")
        } catch {
            #expect(error.s3Code == "AccessDenied")
            #expect(error.message == "Request has expired")
        }
    }
}
