public import Auth
import HTTPTypes
public import Hummingbird
import StorageCore
public import StorageService

/// Turns the `Authorization` header into a `Caller` (contract §2.1).
public struct Authenticator: Sendable {
    let verifier: JWTVerifier

    public init(verifier: JWTVerifier) {
        self.verifier = verifier
    }

    /// The token: the header value with a leading `Bearer ` removed (case-insensitive).
    static func token(_ request: Request) -> String? {
        guard let value = request.headers[.authorization] else { return nil }
        let trimmed = value.drop { $0 == " " }
        if trimmed.count >= 6, trimmed.prefix(6).lowercased() == "bearer" {
            let rest = trimmed.dropFirst(6)
            if rest.isEmpty { return "" }
            if rest.first == " " || rest.first == "\t" { return String(rest.drop { $0 == " " || $0 == "\t" }) }
        }
        return String(trimmed)
    }

    /// A caller with a valid JWT, or AccessDenied with the verifier's message.
    ///
    /// - Parameter requireHeader: routes validated by upstream's header schema answer a missing
    ///   header with a validation error; the others verify an empty token.
    func caller(_ request: Request, context: StorageRequestContext, requireHeader: Bool = true) async throws -> Caller {
        guard let token = Self.token(request) else {
            if requireHeader { throw StorageError.validation("headers must have required property 'authorization'") }
            return try await verified("", request: request, context: context)
        }
        return try await verified(token, request: request, context: context)
    }

    /// The allow-invalid-JWT routes: a missing or invalid token reads as anonymous.
    func optionalCaller(_ request: Request, context: StorageRequestContext) async -> Caller {
        if let token = Self.token(request), let jwt = try? await verifier.verify(token) {
            return Caller(jwt: jwt, request: facts(request, context: context), logger: context.logger)
        }
        return Caller(jwt: nil, request: facts(request, context: context), logger: context.logger)
    }

    /// A caller for routes that take no token at all (public reads).
    func anonymous(_ request: Request, context: StorageRequestContext) -> Caller {
        Caller(jwt: nil, request: facts(request, context: context), logger: context.logger)
    }

    /// A caller with the JWT `token` (the `/s3` endpoint's, which takes no bearer header), or
    /// AccessDenied with the verifier's message.
    public func caller(token: String, request: Request, context: StorageRequestContext) async throws -> Caller {
        try await verified(token, request: request, context: context)
    }

    private func verified(_ token: String, request: Request, context: StorageRequestContext) async throws -> Caller {
        do {
            return Caller(jwt: try await verifier.verify(token), request: facts(request, context: context), logger: context.logger)
        } catch {
            throw StorageError.accessDenied(error.message)
        }
    }

    private func facts(_ request: Request, context: StorageRequestContext) -> RequestFacts {
        let query = request.uri.query.map { "?" + $0 } ?? ""
        return RequestFacts(
            headers: request.headersJSON, method: request.method.rawValue,
            path: String(StoragePath.relative(request.uri.path)) + query, requestID: context.requestID,
            respondAsync: request.headers[values: .prefer].contains { Self.prefersAsync($0) })
    }

    /// Whether a `Prefer` header value holds the `respond-async` preference (RFC 7240).
    static func prefersAsync(_ value: String) -> Bool {
        value.split(separator: ",").contains { preference in
            preference.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() == "respond-async"
        }
    }
}
