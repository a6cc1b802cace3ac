import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import StorageService

/// Cache purges forwarded to `CDN_PURGE_ENDPOINT_URL` as upstream sends them: a JSON POST to
/// `<url>/purge` with `Authorization: Bearer CDN_PURGE_ENDPOINT_KEY`, within 10 s; any status
/// but 2xx is a failure.
final class HTTPCDNPurger: CDNPurger {
    static let timeout = TimeAmount.seconds(10)

    let client: HTTPClient
    let url: String
    let key: String?

    init(endpoint: URL, key: String?) {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(3))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var components = URLComponents(url: endpoint, resolvingAgainstBaseURL: false)
        components?.query = nil
        components?.fragment = nil
        let base = components?.url?.absoluteString ?? endpoint.absoluteString
        url = base.hasSuffix("/") ? base + "purge" : base + "/purge"
        self.key = key
    }

    func purge(_ request: CDNPurgeRequest, logger: Logger) async throws {
        var post = HTTPClientRequest(url: url)
        post.method = .POST
        post.headers.add(name: "content-type", value: "application/json")
        if let key { post.headers.add(name: "authorization", value: "Bearer \(key)") }
        post.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(request.document)))
        let response = try await client.execute(post, deadline: .now() + Self.timeout, logger: logger)
        // The status decides; the body is only drained, whatever its size, so the connection
        // can be kept.
        for try await _ in response.body {}
        guard (200..<300).contains(response.status.code) else {
            throw CDNPurgeRefused(status: Int(response.status.code))
        }
    }
}

/// The CDN answered a purge with something other than 2xx.
struct CDNPurgeRefused: Error, CustomStringConvertible {
    let status: Int
    var description: String { "Request failed with status code \(status)" }
}

/// Shuts the purger's HTTP client down once the server has stopped.
struct CDNPurgerShutdown: Service {
    let purger: HTTPCDNPurger

    func run() async throws {
        try? await gracefulShutdown()
        try await purger.client.shutdown()
    }
}
