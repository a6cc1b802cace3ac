#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import Crypto
import JWTKit
public import StorageCore
import WireFormats

/// A JWT whose signature and time claims have been checked.
public struct VerifiedJWT: Sendable, Equatable {
    /// The compact token as received.
    public let token: String
    /// The payload JSON text, forwarded verbatim to Postgres as `request.jwt.claims`.
    public let payload: String
    /// The parsed payload.
    public let claims: JSONValue

    /// The Postgres role the request takes on (`role` claim, `anon` when absent).
    public var role: String { claims["role"]?.stringValue ?? "anon" }
    /// The `sub` claim.
    public var sub: String? { claims["sub"]?.stringValue }
    /// The `exp` claim.
    public var expiresAt: Date? { claims["exp"].flatMap(Self.seconds).map(Date.init(timeIntervalSince1970:)) }

    static func seconds(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }
}

/// Why a token was refused; the message is what upstream's verifier (jose) says.
public struct JWTVerificationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }

    static let malformed = JWTVerificationError("Invalid Compact JWS")
    static let badSignature = JWTVerificationError("signature verification failed")
    static let algorithmNotAllowed = JWTVerificationError("\"alg\" (Algorithm) Header Parameter value not allowed")
    static let expired = JWTVerificationError("\"exp\" claim timestamp check failed")
    static let notYetValid = JWTVerificationError("\"nbf\" claim timestamp check failed")
    static let noMatchingKey = JWTVerificationError("no applicable key found in the JSON Web Key Set")
    static let claimsNotObject = JWTVerificationError("JWT Claims Set must be a top-level JSON object")
    static let missingExpiry = JWTVerificationError("missing required \"exp\" claim")
}

/// Verifies JWTs as contract §2.1 describes: the shared HS secret for the configured algorithm, plus
/// any RS/ES/EdDSA/HS keys of a JWKS, chosen by `kid` and key type. Only standard time claims are
/// checked (`exp` is optional); audience and issuer are not.
public struct JWTVerifier: Sendable {
    private let sharedSecret: SymmetricKey
    private let sharedAlgorithm: HMACAlgorithm
    private let keySet: JSONWebKeySet
    /// Signed-URL tokens must expire; user JWTs need not (contract §2.1).
    private let requiresExpiry: Bool

    /// - Parameters:
    ///   - secret: `AUTH_JWT_SECRET`, used as UTF-8 bytes.
    ///   - algorithm: `AUTH_JWT_ALGORITHM` (`HS256` by default).
    ///   - jwks: the `JWT_JWKS` document, if any.
    public init(secret: String, algorithm: String = "HS256", jwks: String? = nil) throws {
        guard let sharedAlgorithm = HMACAlgorithm(rawValue: algorithm) else {
            throw JWTConfigurationError("AUTH_JWT_ALGORITHM must be HS256, HS384 or HS512, not \(algorithm)")
        }
        self.sharedSecret = SymmetricKey(data: Array(secret.utf8))
        self.sharedAlgorithm = sharedAlgorithm
        self.keySet = try jwks.map(JSONWebKeySet.init(json:)) ?? JSONWebKeySet()
        self.requiresExpiry = false
    }

    private init(sharedSecret: SymmetricKey, sharedAlgorithm: HMACAlgorithm, keySet: JSONWebKeySet, requiresExpiry: Bool) {
        self.sharedSecret = sharedSecret
        self.sharedAlgorithm = sharedAlgorithm
        self.keySet = keySet
        self.requiresExpiry = requiresExpiry
    }

    /// The verifier of signed-URL tokens (docs/hardening.md, "Access"): the shared secret and the
    /// JWKS key marked for URL signing (`urlSigningKey`), never the set's other keys, which may
    /// belong to an identity provider; `exp` is required.
    public static func urlTokens(secret: String, algorithm: String = "HS256", jwks: String? = nil) throws -> JWTVerifier {
        let users = try JWTVerifier(secret: secret, algorithm: algorithm, jwks: jwks)
        return JWTVerifier(
            sharedSecret: users.sharedSecret, sharedAlgorithm: users.sharedAlgorithm,
            keySet: users.keySet.urlSigningKeyOnly(), requiresExpiry: true)
    }

    /// The algorithms a token may use: the configured HS algorithm plus those the JWKS enables.
    public var allowedAlgorithms: Set<String> {
        keySet.enabledAlgorithms.union([sharedAlgorithm.rawValue])
    }

    /// Checks signature and time claims of `token` at `now`.
    public func verify(_ token: String, now: Date = Date()) async throws(JWTVerificationError) -> VerifiedJWT {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let headerBytes = Base64URL.decode(parts[0]),
            let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)),
            let payloadBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else { throw .malformed }
        guard let alg = header.alg, allowedAlgorithms.contains(alg) else { throw .algorithmNotAllowed }

        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        if let hmac = HMACAlgorithm(rawValue: alg) {
            // A token without `kid` in the configured algorithm is the shared secret's; one with
            // a `kid` is the matching `oct` key's, falling back to the shared secret (contract §2.1).
            // A set's key without a `kid` (the URL-signing key may have none) is tried as well.
            var candidates: [SymmetricKey] = []
            if header.kid == nil, alg == sharedAlgorithm.rawValue { candidates.append(sharedSecret) }
            if let key = keySet.hmacKey(kid: header.kid, algorithm: hmac) { candidates.append(key) }
            if candidates.isEmpty, alg == sharedAlgorithm.rawValue { candidates.append(sharedSecret) }
            guard !candidates.isEmpty else { throw .noMatchingKey }
            guard candidates.contains(where: { hmac.isValid(signature: signature, for: signingInput, key: $0) }) else {
                throw .badSignature
            }
        } else {
            guard let verifier = keySet.asymmetricVerifier(kid: header.kid, algorithm: alg) else {
                throw .noMatchingKey
            }
            guard await verifier.isValid(token: token) else { throw .badSignature }
        }

        guard let claims = try? JSONDecoder().decode(JSONValue.self, from: Data(payloadBytes)) else {
            throw .malformed
        }
        guard claims.isObject else { throw .claimsNotObject }
        let nowSeconds = now.timeIntervalSince1970
        if let exp = claims["exp"] {
            guard let seconds = VerifiedJWT.seconds(exp) else { throw JWTVerificationError("\"exp\" claim must be a number") }
            guard seconds > nowSeconds.rounded(.down) else { throw .expired }
        } else if requiresExpiry {
            throw .missingExpiry
        }
        if let nbf = claims["nbf"] {
            guard let seconds = VerifiedJWT.seconds(nbf) else { throw JWTVerificationError("\"nbf\" claim must be a number") }
            guard seconds <= nowSeconds.rounded(.down) else { throw .notYetValid }
        }
        return VerifiedJWT(token: token, payload: String(decoding: payloadBytes, as: UTF8.self), claims: claims)
    }

    private struct Header: Decodable {
        var alg: String?
        var kid: String?
    }
}

/// An invalid `AUTH_JWT_*` or `JWT_JWKS` setting.
public struct JWTConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The HMAC JWS algorithms.
enum HMACAlgorithm: String, Sendable {
    case hs256 = "HS256", hs384 = "HS384", hs512 = "HS512"

    func signature(for input: [UInt8], key: SymmetricKey) -> [UInt8] {
        switch self {
        case .hs256: Array(HMAC<SHA256>.authenticationCode(for: input, using: key))
        case .hs384: Array(HMAC<SHA384>.authenticationCode(for: input, using: key))
        case .hs512: Array(HMAC<SHA512>.authenticationCode(for: input, using: key))
        }
    }

    func isValid(signature: [UInt8], for input: [UInt8], key: SymmetricKey) -> Bool {
        switch self {
        case .hs256: HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: input, using: key)
        case .hs384: HMAC<SHA384>.isValidAuthenticationCode(signature, authenticating: input, using: key)
        case .hs512: HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: input, using: key)
        }
    }
}
