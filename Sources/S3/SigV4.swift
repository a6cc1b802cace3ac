public import Crypto
import WireFormats
public import Foundation

/// AWS Signature Version 4 (header and presigned-query forms), with S3's path rules: each path
/// segment is URI-encoded once and the path is never normalised.
///
/// Pure: nothing here performs I/O, so every step is checked against AWS's published vectors.
public struct SigV4Signer: Sendable {
    /// `x-amz-content-sha256` for bodies that are streamed without hashing.
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// SHA-256 of the empty body.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    static let algorithm = "AWS4-HMAC-SHA256"

    public let accessKey: String
    private let secretKey: String
    public let region: String
    public let service: String

    public init(accessKey: String, secretKey: String, region: String, service: String = "s3") {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
        self.service = service
    }

    /// A request as it will be sent: the path already encoded (see `encodePath`), query values
    /// raw (they are encoded here), header names in any case.
    public struct Request: Sendable {
        public var method: String
        public var encodedPath: String
        public var query: [(String, String)]
        public var headers: [(String, String)]

        public init(method: String, encodedPath: String, query: [(String, String)] = [], headers: [(String, String)]) {
            self.method = method
            self.encodedPath = encodedPath
            self.query = query
            self.headers = headers
        }
    }

    // MARK: - Encoding

    /// RFC 3986 percent-encoding of everything but unreserved characters (`A-Z a-z 0-9 - _ . ~`);
    /// `/` too unless `keepSlash`.
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        func unreserved(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                return true
            case UInt8(ascii: "/"):
                return keepSlash
            default:
                return false
            }
        }
        // Bytes, not characters: keys and query values are encoded on every request and listing entry.
        if text.utf8.allSatisfy(unreserved) { return text }
        let hex = Array("0123456789ABCDEF".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count * 3)
        for byte in text.utf8 {
            if unreserved(byte) {
                output.append(byte)
            } else {
                output.append(UInt8(ascii: "%"))
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0xF)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The wire and canonical form of an S3 path: segments encoded once, slashes kept.
    public static func encodePath(_ path: String) -> String {
        encode(path, keepSlash: true)
    }

    // MARK: - Canonical forms

    /// Sorted `key=value` pairs, both encoded.
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        let encoded: [(key: String, value: String)] = query.map { (encode($0.0), encode($0.1)) }
        let sorted = encoded.sorted { lhs, rhs in lhs.key == rhs.key ? lhs.value < rhs.value : lhs.key < rhs.key }
        return sorted.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
    }

    /// Lower-cased names, values trimmed with inner runs of spaces collapsed, repeated names
    /// joined with commas; sorted by name.
    static func canonicalHeaders(_ headers: [(String, String)]) -> (canonical: String, signed: String) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            merged[name.lowercased(), default: []].append(normaliseHeaderValue(value))
        }
        let names = merged.keys.sorted()
        let canonical = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (canonical, names.joined(separator: ";"))
    }

    static func normaliseHeaderValue(_ value: String) -> String {
        var result = ""
        var lastWasSpace = false
        for character in value.trimmingCharacters(in: .whitespaces) {
            if character == " " {
                if !lastWasSpace { result.append(" ") }
                lastWasSpace = true
            } else {
                result.append(character)
                lastWasSpace = false
            }
        }
        return result
    }

    public func canonicalRequest(_ request: Request, payloadHash: String) -> String {
        let headers = Self.canonicalHeaders(request.headers)
        return [
            request.method,
            request.encodedPath.isEmpty ? "/" : request.encodedPath,
            Self.canonicalQuery(request.query),
            headers.canonical,
            headers.signed,
            payloadHash,
        ].joined(separator: "\n")
    }

    public func scope(date: Date) -> String {
        "\(Self.dayStamp(date))/\(region)/\(service)/aws4_request"
    }

    public func stringToSign(canonicalRequest: String, date: Date) -> String {
        let hash = SHA256.hash(data: Array(canonicalRequest.utf8)).lowercaseHex
        return [Self.algorithm, Self.timestamp(date), scope(date: date), hash].joined(separator: "\n")
    }

    public func signature(stringToSign: String, date: Date) -> String {
        HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: signingKey(date: date)).lowercaseHex
    }

    /// The key of one day's scope, derived from the secret; signs requests and every chunk of a
    /// streamed body alike.
    public func signingKey(date: Date) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(secretKey)".utf8))
        for part in [Self.dayStamp(date), region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    /// The signature of one chunk of an `aws-chunked` body (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`):
    /// it chains on the previous chunk's signature, the request's own (the seed) for the first.
    public static func chunkSignature(
        chunkHash: String, previousSignature: String, scope: String, timestamp: String, key: SymmetricKey
    ) -> String {
        let stringToSign = [
            "AWS4-HMAC-SHA256-PAYLOAD", timestamp, scope, previousSignature, emptyPayloadHash, chunkHash,
        ].joined(separator: "\n")
        return HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key).lowercaseHex
    }

    // MARK: - Signing

    /// The `Authorization` header for `request`, which must already carry `host` and `x-amz-date`
    /// (and `x-amz-content-sha256` for S3) among its headers.
    public func authorization(for request: Request, payloadHash: String, date: Date) -> String {
        let canonical = canonicalRequest(request, payloadHash: payloadHash)
        let signature = signature(stringToSign: stringToSign(canonicalRequest: canonical, date: date), date: date)
        let signed = Self.canonicalHeaders(request.headers).signed
        return "\(Self.algorithm) Credential=\(accessKey)/\(scope(date: date)), SignedHeaders=\(signed), Signature=\(signature)"
    }

    /// Adds `x-amz-date`, `x-amz-content-sha256` and `Authorization` to a request's headers.
    public func signedHeaders(
        method: String, encodedPath: String, query: [(String, String)], headers: [(String, String)],
        payloadHash: String = unsignedPayload, date: Date = Date()
    ) -> [(String, String)] {
        var headers = headers
        headers.append(("x-amz-date", Self.timestamp(date)))
        headers.append(("x-amz-content-sha256", payloadHash))
        let request = Request(method: method, encodedPath: encodedPath, query: query, headers: headers)
        headers.append(("Authorization", authorization(for: request, payloadHash: payloadHash, date: date)))
        return headers
    }

    /// The query of a presigned URL: the given parameters plus the `X-Amz-*` ones and the signature.
    public func presignedQuery(
        method: String, encodedPath: String, host: String, query: [(String, String)] = [],
        expires: Int, date: Date = Date()
    ) -> [(String, String)] {
        var parameters = query
        parameters += [
            ("X-Amz-Algorithm", Self.algorithm),
            ("X-Amz-Credential", "\(accessKey)/\(scope(date: date))"),
            ("X-Amz-Date", Self.timestamp(date)),
            ("X-Amz-Expires", String(expires)),
            ("X-Amz-SignedHeaders", "host"),
        ]
        let request = Request(method: method, encodedPath: encodedPath, query: parameters, headers: [("host", host)])
        let canonical = canonicalRequest(request, payloadHash: Self.unsignedPayload)
        parameters.append(("X-Amz-Signature", signature(stringToSign: stringToSign(canonicalRequest: canonical, date: date), date: date)))
        return parameters
    }

    // MARK: - Dates

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC, as in `x-amz-date`.
    public static func timestamp(_ date: Date) -> String {
        let parts = utcParts(date)
        return "\(parts.day)T\(parts.time)Z"
    }

    static func dayStamp(_ date: Date) -> String { utcParts(date).day }

    /// The reverse of `timestamp`: `20130524T000000Z`, UTC, strictly; nil for anything else.
    public static func parseTimestamp(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
            let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15)
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard components.isValidDate(in: calendar) else { return nil }
        return calendar.date(from: components)
    }

    private static func utcParts(_ date: Date) -> (day: String, time: String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func pad(_ value: Int, _ width: Int = 2) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return ("\(pad(c.year!, 4))\(pad(c.month!))\(pad(c.day!))", "\(pad(c.hour!))\(pad(c.minute!))\(pad(c.second!))")
    }
}
