import Crypto
import CryptoExtras
import Foundation
import JWTKit
import StorageCore
import Testing
import WireFormats

@testable import Auth

/// Tokens as clients send them, built by hand (HS) or by jwt-kit (RS/ES/EdDSA).
enum Tokens {
    static let secret = "super-secret-jwt-token-with-at-least-32-characters-long"

    static func part(_ json: String) -> String { Base64URL.encode(Array(json.utf8)) }

    static func hmac(_ payload: String, header: String = #"{"alg":"HS256","typ":"JWT"}"#, secret: String = secret, algorithm: HMACAlgorithm = .hs256) -> String {
        let input = "\(part(header)).\(part(payload))"
        let signature = algorithm.signature(for: Array(input.utf8), key: SymmetricKey(data: Array(secret.utf8)))
        return "\(input).\(Base64URL.encode(signature))"
    }

    static var future: Int { Int(Date().timeIntervalSince1970) + 3600 }
    static var past: Int { Int(Date().timeIntervalSince1970) - 10 }
}

struct TestClaims: JWTPayload {
    var role: String
    var sub: String
    var exp: ExpirationClaim
    func verify(using algorithm: some JWTAlgorithm) throws {}
}

@Suite struct SharedSecretTests {
    let verifier = try! JWTVerifier(secret: Tokens.secret)

    @Test func acceptsAValidToken() async throws {
        let payload = #"{"role":"authenticated","sub":"user-1","exp":\#(Tokens.future),"app_metadata":{"x":1}}"#
        let verified = try await verifier.verify(Tokens.hmac(payload))
        #expect(verified.role == "authenticated")
        #expect(verified.sub == "user-1")
        #expect(verified.payload == payload)
        #expect(verified.claims["app_metadata"]?["x"] == .integer(1))
    }

    @Test func expIsOptional() async throws {
        let verified = try await verifier.verify(Tokens.hmac(#"{"role":"service_role"}"#))
        #expect(verified.role == "service_role")
        #expect(verified.expiresAt == nil)
    }

    @Test func missingRoleMeansAnon() async throws {
        #expect(try await verifier.verify(Tokens.hmac(#"{"sub":"x"}"#)).role == "anon")
    }

    @Test func rejectsExpired() async {
        await #expect(throws: JWTVerificationError.expired) {
            try await verifier.verify(Tokens.hmac(#"{"role":"anon","exp":\#(Tokens.past)}"#))
        }
        #expect(JWTVerificationError.expired.message == "\"exp\" claim timestamp check failed")
    }

    @Test func expAtNowIsExpired() async {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        await #expect(throws: JWTVerificationError.expired) {
            try await verifier.verify(Tokens.hmac(#"{"exp":1700000000}"#), now: now)
        }
    }

    @Test func rejectsNotYetValid() async {
        await #expect(throws: JWTVerificationError.notYetValid) {
            try await verifier.verify(Tokens.hmac(#"{"nbf":\#(Tokens.future)}"#))
        }
    }

    @Test func rejectsNonNumericTimes() async {
        await #expect(throws: JWTVerificationError("\"exp\" claim must be a number")) {
            try await verifier.verify(Tokens.hmac(#"{"exp":"soon"}"#))
        }
    }

    @Test func rejectsAnotherSecret() async {
        await #expect(throws: JWTVerificationError.badSignature) {
            try await verifier.verify(Tokens.hmac(#"{"role":"anon"}"#, secret: "another-secret-of-sufficient-length-000"))
        }
        #expect(JWTVerificationError.badSignature.message == "signature verification failed")
    }

    @Test func rejectsATamperedPayload() async throws {
        let token = Tokens.hmac(#"{"role":"anon"}"#)
        let parts = token.split(separator: ".")
        let forged = "\(parts[0]).\(Tokens.part(#"{"role":"service_role"}"#)).\(parts[2])"
        await #expect(throws: JWTVerificationError.badSignature) { try await verifier.verify(forged) }
    }

    @Test func rejectsAlgNone() async {
        let token = "\(Tokens.part(#"{"alg":"none","typ":"JWT"}"#)).\(Tokens.part(#"{"role":"service_role"}"#))."
        await #expect(throws: JWTVerificationError.algorithmNotAllowed) { try await verifier.verify(token) }
    }

    @Test func rejectsOtherAlgorithmsThanConfigured() async {
        let token = Tokens.hmac(#"{"role":"anon"}"#, header: #"{"alg":"HS384"}"#, algorithm: .hs384)
        await #expect(throws: JWTVerificationError.algorithmNotAllowed) { try await verifier.verify(token) }
        let rs = "\(Tokens.part(#"{"alg":"RS256"}"#)).\(Tokens.part(#"{"role":"anon"}"#)).c2ln"
        await #expect(throws: JWTVerificationError.algorithmNotAllowed) { try await verifier.verify(rs) }
    }

    @Test(arguments: ["", "abc", "a.b", "a.b.c.d", "!!.e30.", "e30.!!.", "bm90IGpzb24.e30.", "e30.e30.***"])
    func rejectsMalformed(_ token: String) async {
        await #expect(throws: (any Error).self) { try await verifier.verify(token) }
    }

    @Test func malformedCompactFormMessage() async {
        await #expect(throws: JWTVerificationError.malformed) { try await verifier.verify("abc") }
        #expect(JWTVerificationError.malformed.message == "Invalid Compact JWS")
    }

    @Test func claimsMustBeAnObject() async {
        await #expect(throws: JWTVerificationError.claimsNotObject) { try await verifier.verify(Tokens.hmac("[1,2]")) }
    }

    @Test func configuredAlgorithmIsUsed() async throws {
        let verifier = try JWTVerifier(secret: Tokens.secret, algorithm: "HS512")
        let token = Tokens.hmac(#"{"role":"anon"}"#, header: #"{"alg":"HS512"}"#, algorithm: .hs512)
        #expect(try await verifier.verify(token).role == "anon")
        #expect(throws: (any Error).self) { try JWTVerifier(secret: "x", algorithm: "RS256") }
    }

    @Test func signerRoundTrips() async throws {
        let signer = try JWTSigner(secret: Tokens.secret)
        let key = signer.roleKey("service_role")
        let verified = try await verifier.verify(key)
        #expect(verified.role == "service_role")
        #expect(verified.expiresAt! > Date().addingTimeInterval(9 * 365 * 24 * 3600))
    }
}

@Suite struct JWKSTests {
    static let ecKey = ES256PrivateKey()
    static let otherECKey = ES256PrivateKey()
    static let edKey = try! EdDSA.PrivateKey(curve: .ed25519)
    static let rsaKey = try! Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))

    static func jwks() throws -> String {
        let (x, y) = ecKey.parameters!
        let (otherX, otherY) = otherECKey.parameters!
        let edX = Base64URL.encode(edKey.publicKey.rawRepresentation)
        let (modulus, exponent) = try rsaKey.publicKey.getKeyPrimitives()
        return """
            {"keys":[
              {"kty":"EC","crv":"P-256","kid":"ec-1","x":"\(x)","y":"\(y)"},
              {"kty":"EC","crv":"P-256","kid":"ec-2","alg":"ES256","x":"\(otherX)","y":"\(otherY)"},
              {"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":"\(edX)"},
              {"kty":"RSA","kid":"rsa-1","n":"\(Base64URL.encode(modulus))","e":"\(Base64URL.encode(exponent))"},
              {"kty":"oct","kid":"hs-1","alg":"HS384","k":"\(Base64URL.encode(Array("jwks-hmac-secret-for-hs384-tokens-with-enough-bytes".utf8)))"},
              {"kty":"weird","kid":"ignored"}
            ]}
            """
    }

    static func sign(kid: String, add: (JWTKeyCollection) async throws -> Void) async throws -> String {
        let keys = JWTKeyCollection()
        try await add(keys)
        let claims = TestClaims(role: "authenticated", sub: "jwks-user", exp: .init(value: Date().addingTimeInterval(600)))
        return try await keys.sign(claims, kid: JWKIdentifier(string: kid))
    }

    @Test func enablesAlgorithmsByKeyType() throws {
        let verifier = try JWTVerifier(secret: Tokens.secret, jwks: Self.jwks())
        #expect(verifier.allowedAlgorithms == [
            "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA",
        ])
        #expect(try JWTVerifier(secret: Tokens.secret).allowedAlgorithms == ["HS256"])
    }

    @Test func verifiesES256ByKid() async throws {
        let verifier = try JWTVerifier(secret: Tokens.secret, jwks: Self.jwks())
        let first = try await Self.sign(kid: "ec-1") { await $0.add(ecdsa: Self.ecKey, kid: "ec-1") }
        #expect(try await verifier.verify(first).sub == "jwks-user")
        let second = try await Self.sign(kid: "ec-2") { await $0.add(ecdsa: Self.otherECKey, kid: "ec-2") }
        #expect(try await verifier.verify(second).role == "authenticated")
        // The right kid but the other key's signature.
        let mislabelled = try await Self.sign(kid: "ec-1") { await $0.add(ecdsa: Self.otherECKey, kid: "ec-1") }
        await #expect(throws: JWTVerificationError.badSignature) { try await verifier.verify(mislabelled) }
        let unknown = try await Self.sign(kid: "ec-9") { await $0.add(ecdsa: Self.ecKey, kid: "ec-9") }
        await #expect(throws: JWTVerificationError.noMatchingKey) { try await verifier.verify(unknown) }
    }

    @Test func verifiesEdDSAAndRS256() async throws {
        let verifier = try JWTVerifier(secret: Tokens.secret, jwks: Self.jwks())
        let ed = try await Self.sign(kid: "ed-1") { await $0.add(eddsa: Self.edKey, kid: "ed-1") }
        #expect(try await verifier.verify(ed).sub == "jwks-user")
        let rsa = try await Self.sign(kid: "rsa-1") { await $0.add(rsa: Self.rsaKey, digestAlgorithm: .sha256, kid: "rsa-1") }
        #expect(try await verifier.verify(rsa).sub == "jwks-user")
    }

    @Test func hmacKeysFromTheSetNeedTheirKid() async throws {
        let verifier = try JWTVerifier(secret: Tokens.secret, jwks: Self.jwks())
        let secret = "jwks-hmac-secret-for-hs384-tokens-with-enough-bytes"
        let withKid = Tokens.hmac(#"{"role":"anon"}"#, header: #"{"alg":"HS384","kid":"hs-1"}"#, secret: secret, algorithm: .hs384)
        #expect(try await verifier.verify(withKid).role == "anon")
        // The shared secret still verifies plain HS256 tokens.
        #expect(try await verifier.verify(Tokens.hmac(#"{"role":"anon"}"#)).role == "anon")
        // An HS256 token signed with the RSA modulus as secret (algorithm confusion) fails.
        let (modulus, _) = try Self.rsaKey.publicKey.getKeyPrimitives()
        let confused = Tokens.hmac(#"{"role":"service_role"}"#, header: #"{"alg":"HS256","kid":"rsa-1"}"#,
                                   secret: Base64URL.encode(modulus))
        await #expect(throws: JWTVerificationError.badSignature) { try await verifier.verify(confused) }
    }

    @Test func expiryIsCheckedForAsymmetricTokens() async throws {
        let verifier = try JWTVerifier(secret: Tokens.secret, jwks: Self.jwks())
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: Self.ecKey, kid: "ec-1")
        let expired = try await keys.sign(
            TestClaims(role: "authenticated", sub: "x", exp: .init(value: Date().addingTimeInterval(-60))), kid: "ec-1")
        await #expect(throws: JWTVerificationError.expired) { try await verifier.verify(expired) }
    }

    @Test func rejectsADocumentThatIsNotASet() {
        #expect(throws: (any Error).self) { try JWTVerifier(secret: Tokens.secret, jwks: "[1,2,3]") }
    }
}
