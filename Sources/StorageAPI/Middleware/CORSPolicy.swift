import HTTPTypes
import Hummingbird

/// Cross-origin rules (contract §12.1): browsers call storage directly through supabase-js.
public struct CORSPolicy: Sendable {
    let allowedOrigins: [String]

    static let allowedHeaders =
        "authorization, apikey, x-client-info, content-type, cache-control, x-upsert, x-metadata, x-signature, "
        + "tus-resumable, upload-length, upload-offset, upload-metadata, upload-checksum, upload-defer-length, "
        + "upload-concat, upload-expires, range, if-none-match, if-modified-since, x-request-id, x-robots-tag, "
        + "x-http-method-override"
    static let exposedHeaders =
        "location, upload-offset, upload-length, upload-expires, upload-defer-length, upload-metadata, tus-resumable, "
        + "tus-version, tus-extension, tus-max-size, tus-checksum-algorithm, tus-complete, etag, content-range, content-disposition, content-length, content-type, "
        + "cache-control, last-modified, expires, x-request-id, x-transformations, accept-ranges"
    static let allowedMethods = "GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS"

    public init(allowedOrigins: [String]) {
        self.allowedOrigins = allowedOrigins
    }

    private func allowOrigin(for origin: String) -> String? {
        if allowedOrigins.contains("*") { return "*" }
        return allowedOrigins.contains(origin) ? origin : nil
    }

    /// A preflight answer, or nil when the request is not a CORS preflight.
    func preflight(_ request: Request) -> Response? {
        guard let origin = request.headers[.origin], request.headers[.accessControlRequestMethod] != nil else { return nil }
        var headers: HTTPFields = [:]
        if let allowed = allowOrigin(for: origin) {
            headers[.accessControlAllowOrigin] = allowed
            headers[.accessControlAllowMethods] = Self.allowedMethods
            // Echo what the browser asks for: supabase-js adds headers over time.
            headers[.accessControlAllowHeaders] = request.headers[.accessControlRequestHeaders] ?? Self.allowedHeaders
            headers[.accessControlMaxAge] = "86400"
            headers[.accessControlExposeHeaders] = Self.exposedHeaders
        }
        if !allowedOrigins.contains("*") { headers[.vary] = "Origin" }
        return Response(status: .noContent, headers: headers)
    }

    func decorate(_ response: inout Response, request: Request) {
        guard let origin = request.headers[.origin], let allowed = allowOrigin(for: origin) else { return }
        if response.headers[.accessControlAllowOrigin] == nil {
            response.headers[.accessControlAllowOrigin] = allowed
            response.headers[.accessControlExposeHeaders] = Self.exposedHeaders
        }
        if allowed != "*" { response.headers[.vary] = "Origin" }
    }
}
