#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import Crypto
public import StorageCore
import WireFormats

/// Signs HS256 tokens with the shared secret: the minted anon and service keys, and URL tokens.
public struct JWTSigner: Sendable {
    private let key: SymmetricKey
    private let algorithm: HMACAlgorithm
    private let keyID: String?

    /// - Parameters:
    ///   - secret: `AUTH_JWT_SECRET`.
    ///   - algorithm: `AUTH_JWT_ALGORITHM`.
    public init(secret: String, algorithm: String = "HS256") throws {
        guard let algorithm = HMACAlgorithm(rawValue: algorithm) else {
            throw JWTConfigurationError("AUTH_JWT_ALGORITHM must be HS256, HS384 or HS512, not \(algorithm)")
        }
        self.key = SymmetricKey(data: Array(secret.utf8))
        self.algorithm = algorithm
        self.keyID = nil
    }

    private init(key: SymmetricKey, algorithm: HMACAlgorithm, keyID: String?) {
        self.key = key
        self.algorithm = algorithm
        self.keyID = keyID
    }

    /// The signer of URL tokens (contract §5.8): the JWKS `urlSigningKey` (its `kid` in the header)
    /// when one is configured, otherwise the shared secret.
    public static func urlTokens(secret: String, algorithm: String = "HS256", jwks: String? = nil) throws -> JWTSigner {
        let shared = try JWTSigner(secret: secret, algorithm: algorithm)
        guard let jwks else { return shared }
        guard let key = try JSONWebKeySet(json: jwks).urlSigningKey, let bytes = key.k.flatMap({ Base64URL.decode(Substring($0)) })
        else { return shared }
        guard let keyAlgorithm = HMACAlgorithm(rawValue: key.alg ?? "HS256") else {
            throw JWTConfigurationError("JWT_JWKS urlSigningKey must be an HS256, HS384 or HS512 key")
        }
        return JWTSigner(key: SymmetricKey(data: bytes), algorithm: keyAlgorithm, keyID: key.kid)
    }

    /// Signs `claims` (a JSON object) into a compact JWS.
    public func sign(_ claims: [String: JSONValue]) -> String {
        var header: [String: JSONValue] = ["alg": .string(algorithm.rawValue), "typ": .string("JWT")]
        if let keyID { header["kid"] = .string(keyID) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a JSONValue tree cannot fail.
        let headerPart = Base64URL.encode(try! encoder.encode(JSONValue.object(header)))
        let payloadPart = Base64URL.encode(try! encoder.encode(JSONValue.object(claims)))
        let signingInput = Array("\(headerPart).\(payloadPart)".utf8)
        return "\(headerPart).\(payloadPart).\(Base64URL.encode(algorithm.signature(for: signingInput, key: key)))"
    }

    /// A long-lived key for `role`, as upstream self-signs `ANON_KEY` and `SERVICE_KEY` (ten years).
    public func roleKey(_ role: String, issuedAt: Date = Date()) -> String {
        let iat = Int64(issuedAt.timeIntervalSince1970)
        return sign([
            "role": .string(role), "iss": .string("storage-api"),
            "iat": .integer(iat), "exp": .integer(iat + 10 * 365 * 24 * 3600),
        ])
    }
}
