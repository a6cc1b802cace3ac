public import Crypto
public import Foundation
import S3
import WireFormats

/// A request as the S3 endpoint received it, before anything is decoded: what the client signed.
public struct ReceivedS3Request: Sendable {
    public var method: String
    /// The path as sent, percent-encoded, without the query.
    public var rawPath: String
    /// The query as sent (after `?`), percent-encoded; empty when there is none.
    public var rawQuery: String
    /// Every header as received; names in any case, repeated names kept.
    public var headers: [(String, String)]

    /// The path below the endpoint's mount (`/s3/b/k` → `/b/k`), as sent: the resource a Signature
    /// Version 2 client signs when its endpoint URL has a path (botocore's `auth_path`).
    public var resourcePath: String?

    public init(method: String, rawPath: String, rawQuery: String = "", headers: [(String, String)], resourcePath: String? = nil) {
        self.resourcePath = resourcePath
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers
    }

    /// Every value of the header `name` (any case).
    public func values(of name: String) -> [String] {
        headers.filter { $0.0.caseInsensitiveCompare(name) == .orderedSame }.map(\.1)
    }

    /// The first value of the header `name`.
    public func header(_ name: String) -> String? { values(of: name).first }

    /// The query's pairs, percent-decoded (`+` stays a plus: S3 clients encode spaces as `%20`).
    public var queryItems: [(String, String)] {
        rawQuery.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            return (name, value)
        }
    }
}

/// What a verified request was signed with.
public struct VerifiedS3Request: Sendable {
    public var accessKey: String
    /// `x-amz-security-token` (header or query), for session-token mode.
    public var securityToken: String?
    /// `x-amz-content-sha256`: a body hash to check, `UNSIGNED-PAYLOAD`, or a streaming mode
    /// (`STREAMING-…`); presigned URLs are always `UNSIGNED-PAYLOAD`.
    public var payloadHash: String
    /// What a signed `aws-chunked` body's chunk signatures chain on; nil for a Version 2
    /// presigned URL, which signs no body.
    public var chunkSigning: ChunkSigning?
}

/// The seed and key that sign the chunks of an `aws-chunked` body.
public struct ChunkSigning: Sendable {
    /// The request's own signature: the first chunk's signature chains on it.
    public var seedSignature: String
    public var scope: String
    public var timestamp: String
    public var key: SymmetricKey

    /// The signature chunk `data` must carry after a chunk signed `previousSignature`.
    public func signature<Bytes: Sequence>(of data: Bytes, previousSignature: String) -> String where Bytes.Element == UInt8 {
        signature(chunkHash: SHA256.hash(data: Array(data)).lowercaseHex, previousSignature: previousSignature)
    }

    /// The same, from the chunk's SHA-256 (hex), for callers that hash as the bytes stream by.
    public func signature(chunkHash: String, previousSignature: String) -> String {
        SigV4Signer.chunkSignature(
            chunkHash: chunkHash, previousSignature: previousSignature, scope: scope, timestamp: timestamp, key: key)
    }
}

/// Checks AWS Signature V4 on requests to the S3 endpoint, in both forms: the `Authorization`
/// header and the presigned query (`X-Amz-Signature`). The canonical request is rebuilt from what
/// was received (path as sent, re-encoded the one canonical way), so a client that encodes a
/// character differently still verifies; the path must be the one the client signed, so a proxy in
/// front must not rewrite it. Pure: no I/O, the clock is a parameter.
public struct SigV4Verifier: Sendable {
    /// The region requests must be signed for; nil takes any (`S3_PROTOCOL_ENFORCE_REGION` off).
    public var enforcedRegion: String?
    /// How far `x-amz-date` of a header-signed request may be from now (AWS: 15 minutes).
    public var allowedSkew: Duration
    /// Longest lifetime a presigned URL may ask for (AWS: 7 days).
    public static let maximumExpiry = 604_800

    public init(enforcedRegion: String? = nil, allowedSkew: Duration = .seconds(15 * 60)) {
        self.enforcedRegion = enforcedRegion
        self.allowedSkew = allowedSkew
    }

    /// Verifies `request`'s signature with the secret `secretFor` gives its access key (a legacy
    /// Signature Version 2 presigned URL included).
    public func verify(
        _ request: ReceivedS3Request, now: Date, secretFor: (String) -> String?
    ) throws(S3AuthError) -> VerifiedS3Request {
        let items = request.queryItems
        if SigV2QueryVerifier.isV2(items) { return try SigV2QueryVerifier.verify(request, items: items, now: now, secretFor: secretFor) }
        let presigned = items.contains { $0.0 == "X-Amz-Signature" }
        let claim = try presigned ? Self.presignedClaim(items) : Self.headerClaim(request)
        if let enforcedRegion, claim.region != enforcedRegion {
            throw S3AuthError(.malformed, "the region '\(claim.region)' is wrong; expecting '\(enforcedRegion)'")
        }
        guard claim.service == "s3" else { throw S3AuthError(.malformed, "the service '\(claim.service)' is wrong; expecting 's3'") }
        guard let date = SigV4Signer.parseTimestamp(claim.timestamp) else {
            throw S3AuthError(.malformed, "X-Amz-Date '\(claim.timestamp)' is not yyyyMMddTHHmmssZ")
        }
        guard claim.day == String(claim.timestamp.prefix(8)) else {
            throw S3AuthError(.malformed, "the credential's date \(claim.day) is not the request's day")
        }
        if let expires = claim.expires {
            if now > date.addingTimeInterval(TimeInterval(expires)) { throw S3AuthError(.expired, "Request has expired") }
            // A URL dated in the future is not valid yet; allow the same clock skew as headers.
            if date.timeIntervalSince(now) > allowedSkew.milliseconds / 1000 { throw S3AuthError(.expired, "Request is not valid yet") }
        } else if abs(date.timeIntervalSince(now)) > allowedSkew.milliseconds / 1000 {
            throw S3AuthError(.skewed, "The difference between the request time and the current time is too large.")
        }
        guard let secret = secretFor(claim.accessKey) else {
            throw S3AuthError(.unknownAccessKey, "The AWS Access Key Id you provided does not exist in our records.")
        }
        guard claim.signedHeaders.contains("host") else { throw S3AuthError(.malformed, "the host header must be signed") }

        var headers: [(String, String)] = []
        for name in claim.signedHeaders {
            let values = request.values(of: name)
            guard !values.isEmpty else { throw S3AuthError(.signatureMismatch, "the signed header '\(name)' is missing") }
            headers += values.map { (name, $0) }
        }
        let query = presigned ? items.filter { $0.0 != "X-Amz-Signature" } : items
        let signer = SigV4Signer(accessKey: claim.accessKey, secretKey: secret, region: claim.region, service: claim.service)
        let canonicalPath = SigV4Signer.encodePath(request.rawPath.removingPercentEncoding ?? request.rawPath)
        let canonical = signer.canonicalRequest(
            .init(method: request.method, encodedPath: canonicalPath, query: query, headers: headers),
            payloadHash: claim.payloadHash)
        let expected = signer.signature(stringToSign: signer.stringToSign(canonicalRequest: canonical, date: date), date: date)
        guard constantTimeEqual(expected, claim.signature) else {
            throw S3AuthError(.signatureMismatch,
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
        }
        let securityToken = presigned
            ? items.first { $0.0 == "X-Amz-Security-Token" }?.1 : request.header("x-amz-security-token")
        return VerifiedS3Request(
            accessKey: claim.accessKey, securityToken: securityToken, payloadHash: claim.payloadHash,
            chunkSigning: ChunkSigning(
                seedSignature: expected, scope: signer.scope(date: date), timestamp: claim.timestamp,
                key: signer.signingKey(date: date)))
    }

    /// What a request says about its own signature.
    struct Claim {
        var accessKey, day, region, service: String
        var signedHeaders: [String]
        var signature: String
        var timestamp: String
        var payloadHash: String
        /// Presigned only: seconds the URL is valid from `timestamp`.
        var expires: Int?
    }

    /// `Credential=AK/day/region/service/aws4_request`: the access key may itself hold slashes
    /// only before the last four parts.
    static func parseCredential(_ credential: String) throws(S3AuthError) -> (String, String, String, String) {
        let parts = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 5, parts.last == "aws4_request", !parts[0].isEmpty else {
            throw S3AuthError(.malformed, "the Credential '\(credential)' is not <key>/<date>/<region>/<service>/aws4_request")
        }
        let accessKey = parts.dropLast(4).joined(separator: "/")
        return (accessKey, parts[parts.count - 4], parts[parts.count - 3], parts[parts.count - 2])
    }

    static func headerClaim(_ request: ReceivedS3Request) throws(S3AuthError) -> Claim {
        guard let authorization = request.header("authorization") else {
            throw S3AuthError(.missing, "Missing authentication: no Authorization header or X-Amz-Signature")
        }
        let algorithm = "AWS4-HMAC-SHA256 "
        guard authorization.hasPrefix(algorithm) else {
            throw S3AuthError(.unsupported, "Unsupported Authorization Type: only AWS4-HMAC-SHA256 is accepted")
        }
        var fields: [String: String] = [:]
        for part in authorization.dropFirst(algorithm.count).split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { fields[pair[0]] = pair[1] }
        }
        guard let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else {
            throw S3AuthError(.malformed, "the Authorization header needs Credential, SignedHeaders and Signature")
        }
        let (accessKey, day, region, service) = try parseCredential(credential)
        guard let timestamp = request.header("x-amz-date") else { throw S3AuthError(.malformed, "x-amz-date is missing") }
        guard let payloadHash = request.header("x-amz-content-sha256") else {
            throw S3AuthError(.malformed, "x-amz-content-sha256 is missing")
        }
        return Claim(
            accessKey: accessKey, day: day, region: region, service: service,
            signedHeaders: signed.split(separator: ";").map { $0.lowercased() }, signature: signature,
            timestamp: timestamp, payloadHash: payloadHash, expires: nil)
    }

    /// The claim of a presigned URL, from its decoded query pairs.
    static func presignedClaim(_ items: [(String, String)]) throws(S3AuthError) -> Claim {
        func value(_ name: String) throws(S3AuthError) -> String {
            guard let value = items.first(where: { $0.0 == name })?.1 else {
                throw S3AuthError(.malformedQuery, "the presigned URL has no \(name)")
            }
            return value
        }
        guard try value("X-Amz-Algorithm") == "AWS4-HMAC-SHA256" else {
            throw S3AuthError(.malformedQuery, "X-Amz-Algorithm must be AWS4-HMAC-SHA256")
        }
        let expiresText = try value("X-Amz-Expires")
        guard let expires = Int(expiresText), expires >= 1, expires <= maximumExpiry else {
            throw S3AuthError(.malformedQuery, "X-Amz-Expires must be a number of seconds from 1 to \(maximumExpiry)")
        }
        let (accessKey, day, region, service) = try parseCredential(try value("X-Amz-Credential"))
        return Claim(
            accessKey: accessKey, day: day, region: region, service: service,
            signedHeaders: try value("X-Amz-SignedHeaders").split(separator: ";").map { $0.lowercased() },
            signature: try value("X-Amz-Signature"), timestamp: try value("X-Amz-Date"),
            payloadHash: SigV4Signer.unsignedPayload, expires: expires)
    }
}
