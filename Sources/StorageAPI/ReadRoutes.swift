import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ObjectStore
import StorageCore
import WireFormats
import StorageService

/// Download, HEAD and info routes (contract §5.2) and the download headers of contract §8.
struct ReadRoutes: Sendable {
    let service: StorageService
    let authenticator: Authenticator
    /// Render bounds, for the `X-Transformations` echo; nil when transformations are disabled.
    let imageLimits: ImageTransformation.Limits?

    /// One way of reaching an object: its path shape, how the caller is found and authorized.
    struct Route: Sendable {
        var path: String
        var staticSegments: Int
        var access: ReadAccess
        var operation: StorageOperation
    }

    static let downloads: [Route] = [
        Route(path: "object/:bucket/**", staticSegments: 1, access: .anyone, operation: .objectGetAuthenticated),
        Route(path: "object/authenticated/:bucket/**", staticSegments: 2, access: .authenticated, operation: .objectGetAuthenticated),
        Route(path: "object/public/:bucket/**", staticSegments: 2, access: .publicOnly, operation: .objectGetPublic),
    ]

    static let infos: [Route] = [
        Route(path: "object/info/:bucket/**", staticSegments: 2, access: .anyone, operation: .objectInfoAuthenticated),
        Route(path: "object/info/authenticated/:bucket/**", staticSegments: 3, access: .authenticated, operation: .objectInfoAuthenticated),
        Route(path: "object/info/public/:bucket/**", staticSegments: 3, access: .publicOnly, operation: .objectInfoPublic),
    ]

    func register(on router: some RouterMethods<StorageRequestContext>) {
        for route in Self.downloads {
            router.get(RouterPath(route.path)) { request, context in try await download(request, context: context, route: route) }
            router.head(RouterPath(route.path)) { request, context in try await head(request, context: context, route: route) }
        }
        for route in Self.downloads + Self.infos {
            // The bucket-only form: InvalidKey with a trailing slash, not found without.
            let bucketOnly = RouterPath(String(route.path.dropLast(3)))
            router.get(bucketOnly) { request, _ in try ObjectRoutes.emptyKey(request) }
            router.head(bucketOnly) { request, _ in try ObjectRoutes.emptyKey(request) }
        }
        for route in Self.infos {
            router.get(RouterPath(route.path)) { request, context in try await info(request, context: context, route: route) }
            if route.access != .publicOnly {
                router.head(RouterPath(route.path)) { request, context in try await head(request, context: context, route: route) }
            }
        }
    }

    func caller(_ request: Request, context: StorageRequestContext, route: Route) async throws -> Caller {
        switch route.access {
        case .anyone: await authenticator.optionalCaller(request, context: context)
        case .authenticated: try await authenticator.caller(request, context: context)
        case .publicOnly, .signed, .caller: authenticator.anonymous(request, context: context)
        }
    }

    func download(_ request: Request, context: StorageRequestContext, route: Route) async throws -> Response {
        let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: route.staticSegments)
        let caller = try await caller(request, context: context, route: route)
        let download = try await service.download(
            bucketID: bucket, name: key, caller: caller, access: route.access, operation: route.operation,
            conditions: DownloadResponse.conditions(request))
        return DownloadResponse.make(download, request: request)
    }

    /// Headers from the stored metadata only; the backend is not asked.
    func head(_ request: Request, context: StorageRequestContext, route: Route) async throws -> Response {
        let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: route.staticSegments)
        let caller = try await caller(request, context: context, route: route)
        let object = try await service.findObject(
            bucketID: bucket, name: key, caller: caller, access: route.access, operation: route.operation)
        var response = DownloadResponse.head(object, request: request)
        try echoTransformations(request, into: &response.headers)
        return response
    }

    /// Info and HEAD accept the render parameters and only report them (contract §5.2).
    func echoTransformations(_ request: Request, into headers: inout HTTPFields) throws {
        guard let imageLimits else { return }
        let transformation = try ImageTransformation.fromQuery(request, limits: imageLimits)
        if !transformation.isEmpty { headers[.xTransformations] = transformation.headerValue }
    }

    func info(_ request: Request, context: StorageRequestContext, route: Route) async throws -> Response {
        let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: route.staticSegments)
        let caller = try await caller(request, context: context, route: route)
        let object = try await service.findObject(
            bucketID: bucket, name: key, caller: caller, access: route.access, operation: route.operation)
        var headers: HTTPFields = [:]
        let metadata = object.objectMetadata
        if let eTag = metadata?.eTag { headers[.eTag] = eTag }
        if let cacheControl = metadata?.cacheControl { headers[.cacheControl] = cacheControl }
        if let modified = object.updatedAt { headers[.lastModified] = HTTPDate.format(modified) }
        try echoTransformations(request, into: &headers)
        return Responses.json(.objectInfo(object), headers: headers)
    }
}

/// Builds download responses (contract §8).
enum DownloadResponse {
    /// Range, If-None-Match and If-Modified-Since of a request.
    static func conditions(_ request: Request) -> ReadConditions {
        ReadConditions(
            range: request.headers[.range].flatMap(ByteRangeRequest.init(header:)),
            ifNoneMatch: request.headers[.ifNoneMatch],
            ifModifiedSince: request.headers[.ifNoneMatch] == nil ? request.headers[.ifModifiedSince].flatMap(HTTPDate.parse) : nil)
    }

    /// The bytes of a download with its headers. `expires` replaces Cache-Control (signed URLs).
    static func make(_ download: ObjectDownload, request: Request, expires: Date? = nil) -> Response {
        let content = download.content
        let metadata = download.object.objectMetadata
        var headers = commonHeaders(metadata: metadata, request: request, eTag: content.info.eTag, lastModified: content.info.lastModified)
        headers[.contentType] = servedContentType(metadata?.mimetype ?? content.info.contentType)
        if let expires {
            headers[.expires] = HTTPDate.format(expires)
            headers[.cacheControl] = nil
        } else {
            headers[.cacheControl] = cacheControl(stored: metadata?.cacheControl, request: request, eTag: content.info.eTag)
        }
        if let disposition = contentDisposition(request.query["download"]) { headers[.contentDisposition] = disposition }

        let status: HTTPResponse.Status
        switch content.outcome {
        case .whole:
            status = .ok
        case .partial(let range):
            status = .partialContent
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(content.info.size)"
        case .notModified:
            headers[.contentType] = nil
            return Response(status: .notModified, headers: headers)
        case .rangeNotSatisfiable:
            headers[.contentRange] = "bytes */\(content.info.size)"
            headers[.contentType] = nil
            return ErrorRenderer.response(.invalidRange, style: .envelope, headers: headers)
        }
        headers[.contentLength] = String(content.contentLength)
        return Response(
            status: status, headers: headers,
            body: Responses.streaming(content.body, length: content.contentLength))
    }

    /// HEAD: the headers a GET would send, from the stored metadata.
    static func head(_ object: ObjectRecord, request: Request) -> Response {
        let metadata = object.objectMetadata
        let lastModified = metadata?.lastModified.flatMap(Timestamp.parseISO8601) ?? object.updatedAt
        var headers = commonHeaders(metadata: metadata, request: request, eTag: metadata?.eTag, lastModified: lastModified)
        headers[.contentType] = servedContentType(metadata?.mimetype)
        headers[.contentLength] = String(metadata?.contentLength ?? metadata?.size ?? 0)
        var cacheControl = metadata?.cacheControl ?? "no-cache"
        if let given = request.headers[.ifNoneMatch], given != metadata?.eTag { cacheControl += ", must-revalidate" }
        headers[.cacheControl] = cacheControl
        return Response(status: .ok, headers: headers)
    }

    private static func commonHeaders(metadata: ObjectMetadata?, request: Request, eTag: String?, lastModified: Date?) -> HTTPFields {
        var headers: HTTPFields = [.acceptRanges: "bytes"]
        if let eTag { headers[.eTag] = eTag }
        if let lastModified { headers[.lastModified] = HTTPDate.format(lastModified) }
        headers[.xRobotsTag] = metadata?.xRobotsTag.flatMap { RobotsTag.isValid($0) ? $0 : nil } ?? "none"
        return headers
    }

    /// HTML is never served as HTML (XSS guard, QUIRK).
    static func servedContentType(_ stored: String?) -> String {
        let type = stored ?? "application/octet-stream"
        return type.lowercased().contains("text/html") ? "text/plain" : type
    }

    static func cacheControl(stored: String?, request: Request, eTag: String) -> String {
        let value = stored ?? "no-cache"
        if let given = request.headers[.ifNoneMatch], given != eTag { return value + ", stale-while-revalidate=30" }
        return value
    }

    /// `?download` → `attachment;`, `?download=name` → an attachment named `name` (RFC 6266/5987).
    static func contentDisposition(_ download: String?) -> String? {
        guard let download else { return nil }
        if download.isEmpty { return "attachment;" }
        let encoded = encodeURIComponent(download)
        return "attachment; filename=\(encoded); filename*=UTF-8''\(encoded)"
    }

    /// JavaScript's `encodeURIComponent`.
    static func encodeURIComponent(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
        allowed.insert(charactersIn: "-_.!~*'()")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
