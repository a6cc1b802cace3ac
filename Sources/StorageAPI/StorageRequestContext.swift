public import Hummingbird
public import NIOCore

/// Per-request state: the router's core context plus the request id echoed as `X-Request-Id`.
public struct StorageRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Set by `RequestIDMiddleware` before any handler runs (also on `logger` as `request_id`).
    public var requestID: String = ""

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// JSON request bodies are limited to 1 MiB (contract §1); uploads stream and are not collected.
    public var maxUploadSize: Int { 1 << 20 }
}
