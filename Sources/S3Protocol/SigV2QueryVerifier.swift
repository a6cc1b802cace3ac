import Crypto
import Foundation
import S3
import WireFormats

/// Checks the legacy presigned query form (`AWSAccessKeyId`, `Expires`, `Signature`: Signature
/// Version 2, HMAC-SHA1), which boto3's `generate_presigned_url` still produces for custom
/// endpoints unless told `signature_version="s3v4"`. Only the query form: every client that
/// signs headers here uses Signature Version 4. The resource is the path below the endpoint's
/// mount or the whole path: clients differ in which they sign.
enum SigV2QueryVerifier {
    /// The sub-resources and response overrides that are part of the signed resource.
    static let signedParameters: Set<String> = [
        "acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber", "policy",
        "requestPayment", "response-cache-control", "response-content-disposition", "response-content-encoding",
        "response-content-language", "response-content-type", "response-expires", "tagging", "torrent", "uploadId",
        "uploads", "versionId", "versioning", "versions", "website",
    ]

    static func isV2(_ items: [(String, String)]) -> Bool {
        items.contains { $0.0 == "Signature" } && items.contains { $0.0 == "AWSAccessKeyId" }
    }

    static func verify(
        _ request: ReceivedS3Request, items: [(String, String)], now: Date, secretFor: (String) -> String?
    ) throws(S3AuthError) -> VerifiedS3Request {
        func value(_ name: String) throws(S3AuthError) -> String {
            guard let value = items.first(where: { $0.0 == name })?.1 else {
                throw S3AuthError(.malformedQuery, "the presigned URL has no \(name)")
            }
            return value
        }
        let accessKey = try value("AWSAccessKeyId")
        let signature = try value("Signature")
        let expiresText = try value("Expires")
        guard let expires = TimeInterval(expiresText) else { throw S3AuthError(.malformedQuery, "Expires must be a Unix time") }
        if now.timeIntervalSince1970 > expires { throw S3AuthError(.expired, "Request has expired") }
        guard let secret = secretFor(accessKey) else {
            throw S3AuthError(.unknownAccessKey, "The AWS Access Key Id you provided does not exist in our records.")
        }
        let paths = [request.resourcePath, request.rawPath].compactMap { $0 }
        let matches = paths.map { path in
            constantTimeEqual(signatureFor(request, path: path, items: items, expires: expiresText, secret: secret), signature)
        }
        guard matches.contains(true) else {
            throw S3AuthError(.signatureMismatch,
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
        }
        return VerifiedS3Request(
            accessKey: accessKey, securityToken: items.first { $0.0.lowercased() == "x-amz-security-token" }?.1,
            payloadHash: SigV4Signer.unsignedPayload, chunkSigning: nil)
    }

    /// Base64 HMAC-SHA1 of `METHOD\nContent-MD5\nContent-Type\nExpires\n<x-amz- headers><resource>`.
    static func signatureFor(
        _ request: ReceivedS3Request, path: String, items: [(String, String)], expires: String, secret: String
    ) -> String {
        var amzHeaders: [String: [String]] = [:]
        for (name, value) in request.headers where name.lowercased().hasPrefix("x-amz-") {
            amzHeaders[name.lowercased(), default: []].append(value.trimmingCharacters(in: .whitespaces))
        }
        var text = "\(request.method)\n\(request.header("content-md5") ?? "")\n\(request.header("content-type") ?? "")\n\(expires)\n"
        for name in amzHeaders.keys.sorted() { text += "\(name):\(amzHeaders[name]!.joined(separator: ","))\n" }
        // Version 2 signs the path exactly as the URL spells it.
        text += path
        let parameters = items.filter { signedParameters.contains($0.0) }.sorted { $0.0 < $1.0 }
        if !parameters.isEmpty {
            text += "?" + parameters.map { $0.1.isEmpty ? $0.0 : "\($0.0)=\($0.1)" }.joined(separator: "&")
        }
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return Data(mac).base64EncodedString()
    }
}
