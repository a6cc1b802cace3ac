public import Auth
public import Foundation
public import Hummingbird
import NIOCore
public import StorageCore
public import StorageService
import WireFormats

/// Settings of the HTTP layer.
public struct APISettings: Sendable {
    /// Lifetime of signed upload tokens in seconds (`UPLOAD_SIGNED_URL_EXPIRATION_TIME`).
    public var signedUploadLifetime: Int64
    /// Scheme and host for absolute upload URLs (`STORAGE_PUBLIC_URL`), instead of the request's.
    public var publicURL: URL?
    /// Width/height bounds of image transformations; nil when they are disabled
    /// (`IMAGE_TRANSFORMATION_ENABLED=false`: no render routes, signed URLs never render).
    public var imageTransformation: ImageTransformation.Limits?
    /// The Prometheus text of `GET /metrics`; nil when metrics are off
    /// (`PROMETHEUS_METRICS_ENABLED=false`: no `/metrics` route).
    public var metricsText: (@Sendable () -> String)?
    /// The bearer token `GET /metrics` requires (`METRICS_AUTH_TOKEN`); nil leaves it open.
    public var metricsToken: String?
    /// One span per request, the parent of its work's spans (`TRACING_ENABLED`).
    public var tracing: Bool

    public init(
        signedUploadLifetime: Int64 = 7200, publicURL: URL? = nil,
        imageTransformation: ImageTransformation.Limits? = ImageTransformation.Limits(),
        metricsText: (@Sendable () -> String)? = { "" }, metricsToken: String? = nil, tracing: Bool = false
    ) {
        self.tracing = tracing
        self.metricsText = metricsText
        self.metricsToken = metricsToken
        self.signedUploadLifetime = signedUploadLifetime
        self.publicURL = publicURL
        self.imageTransformation = imageTransformation
    }
}

/// The HTTP API: every route of the Storage contract, at the root and under `/storage/v1`.
public struct StorageAPI: Sendable {
    let service: StorageService
    let authenticator: Authenticator
    let tokens: SignedURLTokens
    let cors: CORSPolicy
    let settings: APISettings

    /// Requests log on their own logger (`context.logger`, with the request id), which the
    /// application's logger seeds.
    public init(
        service: StorageService, authenticator: Authenticator, tokens: SignedURLTokens, cors: CORSPolicy,
        settings: APISettings = APISettings()
    ) {
        self.service = service
        self.authenticator = authenticator
        self.tokens = tokens
        self.cors = cors
        self.settings = settings
    }

    /// The router with middleware and routes in place.
    public func router() -> Router<StorageRequestContext> {
        let router = Router(context: StorageRequestContext.self)
        // Middleware must exist before routes: each route captures the chain at registration.
        // Outermost first: request metrics see the final status the error middleware produced.
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: TrafficMetricsMiddleware())
        router.add(middleware: RequestIDMiddleware())
        if settings.tracing { router.add(middleware: RequestTracingMiddleware()) }
        router.add(middleware: AccessLogMiddleware())
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: CORSMiddleware(cors: cors))
        router.add(middleware: HeadMiddleware())
        router.add(middleware: ErrorMiddleware())
        for mount in [router.group(""), router.group(RouterPath(StoragePath.mountPrefix))] {
            HealthRoutes(service: service, metricsText: settings.metricsText, metricsToken: settings.metricsToken)
                .register(on: mount)
            BucketRoutes(service: service, authenticator: authenticator).register(on: mount)
            ObjectRoutes(service: service, authenticator: authenticator).register(on: mount)
            EventRoutes(service: service, authenticator: authenticator).register(on: mount)
            CDNRoutes(service: service, authenticator: authenticator).register(on: mount)
            ProcessingRoutes(service: service, authenticator: authenticator).register(on: mount)
            ReadRoutes(service: service, authenticator: authenticator, imageLimits: settings.imageTransformation)
                .register(on: mount)
            SignedUploadRoutes(
                service: service, authenticator: authenticator, tokens: tokens, lifetime: settings.signedUploadLifetime
            ).register(on: mount)
            TusRoutes(service: service, authenticator: authenticator, tokens: tokens, publicURL: settings.publicURL)
                .register(on: mount)
            SignedDownloadRoutes(
                service: service, authenticator: authenticator, tokens: tokens, imageLimits: settings.imageTransformation
            ).register(on: mount)
            if let limits = settings.imageTransformation {
                RenderRoutes(service: service, authenticator: authenticator, tokens: tokens, limits: limits)
                    .register(on: mount)
            }
        }
        return router
    }
}

/// `/status`, `/version`, `/health` and `/metrics` (contract §5.12).
struct HealthRoutes: Sendable {
    let service: StorageService
    let metricsText: (@Sendable () -> String)?
    let metricsToken: String?

    func register(on router: some RouterMethods<StorageRequestContext>) {
        router.get("status") { _, _ in Response(status: .ok) }
        if let metricsText { metrics(metricsText, on: router) }
        router.get("version") { _, _ in Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "0.1.0"))) }
        router.get("health") { _, context in
            let (database, storage) = await service.health(logger: context.logger)
            let healthy = database == nil && storage == nil
            return Responses.json(
                .object([
                    ("healthy", .bool(healthy)),
                    ("database", .string(database.map { "error: \($0)" } ?? "ok")),
                    ("storage", .string(storage.map { "error: \($0)" } ?? "ok")),
                ]),
                status: healthy ? .ok : .serviceUnavailable)
        }
    }

    /// `GET /metrics`: the Prometheus text, behind `METRICS_AUTH_TOKEN` when one is set.
    private func metrics(_ text: @escaping @Sendable () -> String, on router: some RouterMethods<StorageRequestContext>) {
        router.get("metrics") { request, _ in
            if let metricsToken, !constantTimeEqual(Authenticator.token(request) ?? "", metricsToken) {
                return ErrorRenderer.response(.metricsTokenRequired, style: .envelope, headers: [.wwwAuthenticate: "Bearer"])
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text())))
        }
    }
}
