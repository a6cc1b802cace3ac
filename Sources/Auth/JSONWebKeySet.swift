#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Crypto
import JWTKit
import WireFormats

/// The keys of `JWT_JWKS` (`{"keys": [...], "urlSigningKey"?: {...}}`), parsed leniently: a key of
/// an unsupported type is skipped rather than failing the whole set.
struct JSONWebKeySet: Sendable {
    /// One entry of the set, as raw JWK members.
    struct Key: Sendable, Decodable {
        var kty: String
        var kid: String?
        var alg: String?
        var crv: String?
        var n: String?
        var e: String?
        var x: String?
        var y: String?
        var k: String?
    }

    private struct Document: Decodable {
        var keys: [LenientKey]?
        var urlSigningKey: LenientKey?
    }

    private struct LenientKey: Decodable {
        var key: Key?
        init(from decoder: any Decoder) throws { key = try? Key(from: decoder) }
    }

    private(set) var keys: [Key] = []
    /// The `oct` key that signs URL tokens instead of the shared secret, when configured.
    private(set) var urlSigningKey: Key?

    init() {}

    init(json: String) throws {
        guard let document = try? JSONDecoder().decode(Document.self, from: Data(json.utf8)) else {
            throw JWTConfigurationError("JWT_JWKS is not a JSON Web Key Set ({\"keys\": [...]})")
        }
        self.keys = (document.keys ?? []).compactMap(\.key).filter { ["RSA", "EC", "OKP", "oct"].contains($0.kty) }
        self.urlSigningKey = document.urlSigningKey?.key.flatMap { $0.kty == "oct" && $0.k != nil ? $0 : nil }
    }

    /// A set holding only the URL-signing key (as an `oct` key of the set), or no key at all.
    func urlSigningKeyOnly() -> JSONWebKeySet {
        var set = JSONWebKeySet()
        set.keys = urlSigningKey.map { [$0] } ?? []
        return set
    }

    /// Algorithms enabled by the key types present (contract §2.1).
    var enabledAlgorithms: Set<String> {
        var algorithms: Set<String> = []
        for key in keys {
            switch key.kty {
            case "RSA": algorithms.formUnion(["RS256", "RS384", "RS512"])
            case "EC": algorithms.formUnion(["ES256", "ES384", "ES512"])
            case "OKP": algorithms.insert("EdDSA")
            case "oct": algorithms.formUnion(["HS256", "HS384", "HS512"])
            default: break
            }
        }
        return algorithms
    }

    /// The first `oct` key whose `kid` matches (or that has none) and whose `alg`, if declared, matches.
    func hmacKey(kid: String?, algorithm: HMACAlgorithm) -> SymmetricKey? {
        keys.first { key in
            key.kty == "oct" && (key.kid == nil || key.kid == kid)
                && (key.alg == nil || key.alg == algorithm.rawValue) && key.k != nil
        }.flatMap { $0.k.flatMap { Base64URL.decode(Substring($0)) } }.map { SymmetricKey(data: $0) }
    }

    /// A verifier for the first key matching `kid` (or both absent), of the type `algorithm` needs,
    /// with a compatible declared `alg` and curve.
    func asymmetricVerifier(kid: String?, algorithm: String) -> AsymmetricVerifier? {
        for key in keys where key.kid == kid && (key.alg == nil || key.alg == algorithm) {
            if let verifier = AsymmetricVerifier(key: key, algorithm: algorithm) { return verifier }
        }
        return nil
    }
}

/// Checks one token's signature against one asymmetric key with jwt-kit.
struct AsymmetricVerifier: Sendable {
    private enum PublicKey: Sendable {
        case rsa(JWTKit.Insecure.RSA.PublicKey, DigestAlgorithm)
        case es256(ES256PublicKey)
        case es384(ES384PublicKey)
        case es512(ES512PublicKey)
        case eddsa(EdDSA.PublicKey)
    }

    private let key: PublicKey

    init?(key jwk: JSONWebKeySet.Key, algorithm: String) {
        do {
            switch (jwk.kty, algorithm) {
            case ("RSA", "RS256"), ("RSA", "RS384"), ("RSA", "RS512"):
                guard let n = jwk.n, let e = jwk.e else { return nil }
                let digest: DigestAlgorithm = algorithm == "RS256" ? .sha256 : algorithm == "RS384" ? .sha384 : .sha512
                key = .rsa(try JWTKit.Insecure.RSA.PublicKey(modulus: n, exponent: e), digest)
            case ("EC", "ES256") where jwk.crv == "P-256":
                guard let x = jwk.x, let y = jwk.y else { return nil }
                key = .es256(try ES256PublicKey(parameters: (x: x, y: y)))
            case ("EC", "ES384") where jwk.crv == "P-384":
                guard let x = jwk.x, let y = jwk.y else { return nil }
                key = .es384(try ES384PublicKey(parameters: (x: x, y: y)))
            case ("EC", "ES512") where jwk.crv == "P-521":
                guard let x = jwk.x, let y = jwk.y else { return nil }
                key = .es512(try ES512PublicKey(parameters: (x: x, y: y)))
            case ("OKP", "EdDSA") where jwk.crv == "Ed25519":
                guard let x = jwk.x else { return nil }
                key = .eddsa(try EdDSA.PublicKey(x: x, curve: .ed25519))
            default:
                return nil
            }
        } catch {
            return nil
        }
    }

    /// Whether the token's signature is valid for this key. Claims are checked by the caller.
    func isValid(token: String) async -> Bool {
        // A collection holding only this key, added without a kid, checks every token against it.
        let collection = JWTKeyCollection()
        switch key {
        case .rsa(let key, let digest): await collection.add(rsa: key, digestAlgorithm: digest)
        case .es256(let key): await collection.add(ecdsa: key)
        case .es384(let key): await collection.add(ecdsa: key)
        case .es512(let key): await collection.add(ecdsa: key)
        case .eddsa(let key): await collection.add(eddsa: key)
        }
        do {
            _ = try await collection.verify(token, as: SignatureOnly.self)
            return true
        } catch {
            return false
        }
    }

    /// A payload that accepts any claims: time claims are checked separately, with upstream's messages.
    private struct SignatureOnly: JWTPayload {
        init(from decoder: any Decoder) throws {}
        func encode(to encoder: any Encoder) throws {}
        func verify(using algorithm: some JWTAlgorithm) throws {}
    }
}
