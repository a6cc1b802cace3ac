public import Foundation
import Crypto
public import StorageCore
import WireFormats

/// The HTTP request of one delivery: upstream's body shape, Standard Webhooks headers
/// (docs/contract.md §12.2). Pure: the deliverer sends what this builds.
public struct WebhookMessage: Sendable, Equatable {
    public var body: String
    public var headers: [(String, String)]

    public static func == (lhs: WebhookMessage, rhs: WebhookMessage) -> Bool {
        lhs.body == rhs.body && lhs.headers.elementsEqual(rhs.headers) { $0 == $1 }
    }

    /// - Parameters:
    ///   - eventID: the event's id, sent as `webhook-id` on every attempt.
    ///   - document: the stored `event` member, as JSON text.
    ///   - sentAt: this attempt's time (`sentAt`, `webhook-timestamp`).
    public init(
        eventID: UUID, document: String, source: EventSource, sentAt: Date, apiKey: String?, signingSecret: String?
    ) {
        var body = #"{"type":"Webhook","event":"#
        body += document
        body += #","sentAt":"# + JSONString.quoted(Timestamp.iso8601(sentAt))
        body += #","tenant":{"ref":"# + JSONString.quoted(source.tenantID)
        body += #","host":"# + JSONString.quoted(source.host) + "}}"
        self.body = body
        let id = eventID.uuidString.lowercased()
        let timestamp = String(Int64(sentAt.timeIntervalSince1970.rounded(.down)))
        var headers = [("content-type", "application/json"), ("webhook-id", id), ("webhook-timestamp", timestamp)]
        if let signingSecret, !signingSecret.isEmpty {
            headers.append(("webhook-signature", Self.signature(secret: signingSecret, id: id, timestamp: timestamp, body: body)))
        }
        if let apiKey, !apiKey.isEmpty { headers.append(("authorization", "Bearer \(apiKey)")) }
        self.headers = headers
    }

    /// Standard Webhooks' `v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`. A secret in the
    /// spec's `whsec_<base64>` form signs with the decoded key (what its libraries expect);
    /// any other secret signs with its bytes as given.
    public static func signature(secret: String, id: String, timestamp: String, body: String) -> String {
        let key: SymmetricKey
        if secret.hasPrefix("whsec_"), let decoded = Data(base64Encoded: String(secret.dropFirst(6))) {
            key = SymmetricKey(data: decoded)
        } else {
            key = SymmetricKey(data: Data(secret.utf8))
        }
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(id).\(timestamp).\(body)".utf8), using: key)
        return "v1," + Data(mac).base64EncodedString()
    }
}
