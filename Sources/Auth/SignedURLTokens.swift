#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import StorageCore

/// The tokens inside signed URLs (contract §5.8, §5.9): compact JWS over the object's
/// `<bucket>/<name>`, scoped for download or upload, signed with the URL-signing secret (the JWKS
/// `urlSigningKey`, or the shared secret) and verified only with it (`JWTVerifier.urlTokens`).
public struct SignedURLTokens: Sendable {
    /// What a token lets its bearer do.
    public enum Scope: String, Sendable {
        case download
        case upload
    }

    /// The claims of a verified token.
    public struct Claims: Sendable, Equatable {
        /// `<bucket>/<name>`, fully decoded.
        public var url: String
        /// Upload tokens: the `sub` of whoever minted it, if anyone.
        public var owner: String?
        /// Upload tokens: whether the upload may replace an existing object.
        public var upsert: Bool
        /// Download tokens of render URLs: `height:H,width:W,…`.
        public var transformations: String?
        /// Download tokens of render URLs: the requested output format, if any.
        public var format: String?
        /// Download tokens made for one version (a processing hook's): that version only.
        public var version: String?
        public var expiresAt: Date?
    }

    private let signer: JWTSigner
    private let verifier: JWTVerifier

    public init(signer: JWTSigner, verifier: JWTVerifier) {
        self.signer = signer
        self.verifier = verifier
    }

    /// The longest lifetime a token may ask for (100 years): `exp` stays a sane timestamp.
    public static let maximumLifetime: Int64 = 100 * 365 * 24 * 3600

    static func expiry(_ issuedAt: Int64, _ lifetime: Int64) -> Int64 {
        issuedAt + min(max(lifetime, 0), maximumLifetime)
    }

    /// A token for uploading `url`, valid for `expiresIn` seconds.
    public func uploadToken(url: String, owner: String?, upsert: Bool, expiresIn: Int64, now: Date = Date()) -> String {
        let iat = Int64(now.timeIntervalSince1970)
        var claims: [String: JSONValue] = [
            "url": .string(url), "upsert": .bool(upsert), "scope": .string(Scope.upload.rawValue),
            "iat": .integer(iat), "exp": .integer(Self.expiry(iat, expiresIn)),
        ]
        if let owner { claims["owner"] = .string(owner) }
        return signer.sign(claims)
    }

    /// A token for downloading `url` (with the render `transformations`, if any).
    public func downloadToken(
        url: String, expiresIn: Int64, transformations: String? = nil, format: String? = nil, version: String? = nil,
        now: Date = Date()
    ) -> String {
        let iat = Int64(now.timeIntervalSince1970)
        var claims: [String: JSONValue] = [
            "url": .string(url), "scope": .string(Scope.download.rawValue), "iat": .integer(iat),
            "exp": .integer(Self.expiry(iat, expiresIn)),
        ]
        if let transformations { claims["transformations"] = .string(transformations) }
        if let format { claims["format"] = .string(format) }
        if let version { claims["version"] = .string(version) }
        return signer.sign(claims)
    }

    /// Verifies `token` for `scope` on `url`. Tokens minted before scopes existed count as
    /// upload tokens when they carry `upsert`, as download tokens otherwise. A download token made
    /// for a render (it carries `transformations`) serves only the render route (`forRender`).
    ///
    /// Throws `InvalidJWT` (bad, expired or never-expiring token) or `InvalidSignature` (wrong
    /// scope or object).
    public func verify(
        _ token: String, scope: Scope, url: String, forRender: Bool = false, now: Date = Date()
    ) async throws(StorageError) -> Claims {
        let verified: VerifiedJWT
        do {
            verified = try await verifier.verify(token, now: now)
        } catch {
            throw StorageError.invalidJWT(error.message)
        }
        let claims = verified.claims
        let hasUpsert = claims["upsert"] != nil
        let tokenScope = claims["scope"]?.stringValue
        let scoped: Bool
        switch scope {
        case .upload: scoped = tokenScope == Scope.upload.rawValue || (tokenScope == nil && hasUpsert)
        case .download: scoped = tokenScope == Scope.download.rawValue || (tokenScope == nil && !hasUpsert)
        }
        guard scoped else { throw StorageError.invalidSignature("Token is not scoped for \(scope.rawValue)") }
        if scope == .download, !forRender, claims["transformations"] != nil {
            throw StorageError.invalidSignature("Token is for an image render, not a download")
        }
        guard claims["url"]?.stringValue == url else { throw StorageError.invalidSignature() }
        return Claims(
            url: url, owner: claims["owner"]?.stringValue, upsert: claims["upsert"]?.boolValue ?? false,
            transformations: claims["transformations"]?.stringValue, format: claims["format"]?.stringValue,
            version: claims["version"]?.stringValue, expiresAt: verified.expiresAt)
    }
}
