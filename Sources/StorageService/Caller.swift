public import Auth
import Database
public import Logging
public import StorageCore

/// Facts about the HTTP request that policies may read (`request.headers`, `request.method`,
/// `request.path`).
public struct RequestFacts: Sendable {
    /// Request headers as a JSON object with lower-cased names.
    public var headers: String
    public var method: String
    /// Path including the query string.
    public var path: String
    /// The request's id (`X-Request-Id`), reported as `reqId` in events; nil for work no request drives.
    public var requestID: String?
    /// `Prefer: respond-async`: an upload to a processed bucket answers 202 at once instead of
    /// waiting for its steps.
    public var respondAsync: Bool

    public init(headers: String, method: String, path: String, requestID: String?, respondAsync: Bool = false) {
        self.respondAsync = respondAsync
        self.headers = headers
        self.method = method
        self.path = path
        self.requestID = requestID
    }
}

/// Who is making a request: a verified JWT, or nobody (routes that allow anonymous access).
public struct Caller: Sendable {
    /// The verified token; `nil` for an anonymous caller.
    public let jwt: VerifiedJWT?
    public let request: RequestFacts
    /// The request's logger (it carries the request id): every line logged on the caller's
    /// behalf, in the service, the database and the backend, goes through it.
    public let logger: Logger

    public init(jwt: VerifiedJWT?, request: RequestFacts, logger: Logger) {
        self.jwt = jwt
        self.request = request
        self.logger = logger
    }

    public var isAnonymous: Bool { jwt == nil }
    /// The request's id, for events' `reqId`.
    public var requestID: String? { request.requestID }
    /// The Postgres role the caller's transactions take on.
    public var role: String { jwt?.role ?? "anon" }
    /// Owner columns for rows this caller creates (contract §6.5).
    public var owner: Owner { Owner(sub: jwt?.sub) }

    /// The session of a transaction acting as this caller.
    func session(_ operation: StorageOperation) -> DatabaseSession {
        DatabaseSession(
            role: role, jwt: jwt?.token ?? "", sub: jwt?.sub ?? "",
            claims: jwt?.payload ?? #"{"role":"anon"}"#,
            headers: request.headers, method: request.method, path: request.path, operation: operation,
            logger: logger)
    }
}
