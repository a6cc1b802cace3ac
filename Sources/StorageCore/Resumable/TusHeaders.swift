#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Parsers for the TUS request headers. Each failure is the TUS error the client should see.
public enum TusHeaders {
    /// The one protocol version served.
    public static let version = "1.0.0"

    /// `Tus-Resumable` must name the served version (a missing one is 412, a wrong one 400, as
    /// tus-node-server answers).
    public static func checkVersion(_ value: String?) throws(StorageError) {
        guard let value, !value.isEmpty else { throw TusErrors.missingVersion }
        guard value == version else { throw TusErrors.invalidHeader("tus-resumable") }
    }

    /// `Upload-Length` xor `Upload-Defer-Length: 1`.
    public static func uploadLength(length: String?, deferLength: String?) throws(StorageError) -> UploadLength {
        let known = try integer(length, header: "upload-length")
        if let deferLength, deferLength != "1" { throw TusErrors.invalidHeader("upload-defer-length") }
        switch (known, deferLength) {
        case (let value?, nil): return .known(value)
        case (nil, .some): return .deferred
        default: throw TusErrors.invalidLength
        }
    }

    /// `Upload-Offset`, required on PATCH.
    public static func offset(_ value: String?) throws(StorageError) -> Int64 {
        guard let offset = try integer(value, header: "upload-offset") else { throw TusErrors.missingOffset }
        return offset
    }

    /// An `Upload-Length` sent on a PATCH (deferred uploads); absent is fine.
    public static func patchLength(_ value: String?) throws(StorageError) -> Int64? {
        try integer(value, header: "upload-length")
    }

    /// A PATCH body must be declared `application/offset+octet-stream`, exactly.
    public static func checkPatchContentType(_ value: String?) throws(StorageError) {
        guard let value else { throw TusErrors.missingContentType }
        guard value == "application/offset+octet-stream" else { throw TusErrors.invalidHeader("content-type") }
    }

    /// An optional non-negative integer header, in canonical form (no sign, no leading zeros).
    static func integer(_ value: String?, header: String) throws(StorageError) -> Int64? {
        guard let value else { return nil }
        guard let number = nonNegativeInteger(value), String(number) == value else { throw TusErrors.invalidHeader(header) }
        return number
    }

    /// `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
    /// Keys are unique and free of spaces and commas; values decode to UTF-8 text.
    /// Spaces around pairs are tolerated.
    public static func metadata(_ header: String) throws(StorageError) -> [String: String] {
        let invalid = TusErrors.invalidHeader("upload-metadata")
        var result: [String: String] = [:]
        for pair in header.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = pair.trimmingCharacters(in: .whitespaces)
            let parts = trimmed.split(separator: " ", omittingEmptySubsequences: false)
            guard let key = parts.first, !key.isEmpty, key.utf8.allSatisfy({ $0 < 128 }), parts.count <= 2,
                result[String(key)] == nil
            else { throw invalid }
            var value = ""
            if parts.count == 2 {
                guard let bytes = Data(base64Encoded: String(parts[1])),
                    let text = String(validating: bytes, as: UTF8.self)
                else { throw invalid }
                value = text
            }
            result[String(key)] = value
        }
        return result
    }

    static func nonNegativeInteger(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int64(trimmed)
    }
}

/// `Upload-Checksum: <algorithm> <base64 digest>` (TUS checksum extension): the digest of this
/// PATCH's body.
public struct UploadChecksum: Sendable, Equatable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case sha256, sha1, md5

        /// Digest length in bytes.
        public var digestLength: Int {
            switch self {
            case .sha256: 32
            case .sha1: 20
            case .md5: 16
            }
        }
    }

    public let algorithm: Algorithm
    public let digest: [UInt8]

    public init(algorithm: Algorithm, digest: [UInt8]) {
        self.algorithm = algorithm
        self.digest = digest
    }

    /// Parses the header; an unknown algorithm or a malformed digest is the client's error (400).
    public init(header: String) throws(StorageError) {
        let parts = header.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2 else { throw TusErrors.invalidHeader("upload-checksum") }
        guard let algorithm = Algorithm(rawValue: String(parts[0])) else { throw TusErrors.unsupportedChecksum }
        guard let digest = Data(base64Encoded: String(parts[1])), digest.count == algorithm.digestLength else {
            throw TusErrors.invalidHeader("upload-checksum")
        }
        self.init(algorithm: algorithm, digest: Array(digest))
    }

    /// For `Tus-Checksum-Algorithm`.
    public static let supported = Algorithm.allCases.map(\.rawValue).joined(separator: ",")
}
