import Foundation
import StorageCore
import Testing

@testable import Events

/// Delivery rules and message shape, without I/O.
struct DeliveryPolicyTests {
    let policy = DeliveryPolicy(maximumAttempts: 4, initialBackoff: .seconds(1), maximumBackoff: .seconds(60))

    @Test func anAcknowledgementDeliversWhateverTheAttempt() {
        for attempt in 1...10 {
            #expect(policy.action(after: .acknowledged(status: 204), attempt: attempt, jitter: 0.5) == .markDelivered)
        }
    }

    @Test(arguments: [DeliveryResult.refused(status: 500), .refused(status: 404), .unreachable("connection refused")])
    func failuresRetryUntilTheLastAttempt(result: DeliveryResult) {
        #expect(policy.action(after: result, attempt: 1, jitter: 1) == .retry(after: .seconds(1)))
        #expect(policy.action(after: result, attempt: 2, jitter: 1) == .retry(after: .seconds(2)))
        #expect(policy.action(after: result, attempt: 3, jitter: 1) == .retry(after: .seconds(4)))
        #expect(policy.action(after: result, attempt: 4, jitter: 1) == .markFailed)
        #expect(policy.action(after: result, attempt: 9, jitter: 1) == .markFailed)
    }

    @Test func backoffDoublesToTheCapAndJitterTakesTheUpperHalf() {
        #expect(policy.backoff.delay(afterAttempt: 1, jitter: 0) == .milliseconds(500))
        #expect(policy.backoff.delay(afterAttempt: 1, jitter: 0.5) == .milliseconds(750))
        #expect(policy.backoff.delay(afterAttempt: 6, jitter: 1) == .seconds(32))
        #expect(policy.backoff.delay(afterAttempt: 7, jitter: 1) == .seconds(60))
        #expect(policy.backoff.delay(afterAttempt: 500, jitter: 1) == .seconds(60))
        #expect(policy.backoff.delay(afterAttempt: 500, jitter: 0) == .seconds(30))
        // Out-of-range jitter is clamped.
        #expect(policy.backoff.delay(afterAttempt: 1, jitter: 7) == .seconds(1))
    }

    @Test func oneAttemptMeansNoRetry() {
        let once = DeliveryPolicy(maximumAttempts: 1, initialBackoff: .seconds(1))
        #expect(once.action(after: .refused(status: 503), attempt: 1, jitter: 0) == .markFailed)
        #expect(DeliveryPolicy(maximumAttempts: 0, initialBackoff: .seconds(1)).maximumAttempts == 1)
    }
}

struct WebhookMessageTests {
    /// The published Standard Webhooks example (standard-webhooks/standard-webhooks, libraries' tests).
    @Test func signatureMatchesTheStandardWebhooksVector() {
        let signature = WebhookMessage.signature(
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp: "1614265330", body: #"{"test": 2432232314}"#)
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func aPlainSecretSignsWithItsBytes() {
        let plain = WebhookMessage.signature(secret: "plain-secret", id: "a", timestamp: "1", body: "{}")
        let prefixedOfSameBytes = WebhookMessage.signature(
            secret: "whsec_" + Data("plain-secret".utf8).base64EncodedString(), id: "a", timestamp: "1", body: "{}")
        #expect(plain == prefixedOfSameBytes)
        #expect(plain != WebhookMessage.signature(secret: "plain-secret", id: "b", timestamp: "1", body: "{}"))
    }

    @Test func bodyAndHeadersFollowTheContract() throws {
        let id = UUID(uuidString: "3F2504E0-4F89-11D3-9A0C-0305E82C3301")!
        let sentAt = Date(timeIntervalSince1970: 1_700_000_000.25)
        let message = WebhookMessage(
            eventID: id, document: #"{"type":"ObjectCreated:Post","payload":{}}"#,
            source: EventSource(tenantID: "t1", host: "h\"1", region: "eu"), sentAt: sentAt,
            apiKey: "key", signingSecret: "secret")
        #expect(message.body == #"{"type":"Webhook","event":{"type":"ObjectCreated:Post","payload":{}},"sentAt":"2023-11-14T22:13:20.250Z","tenant":{"ref":"t1","host":"h\"1"}}"#)
        let headers = Dictionary(uniqueKeysWithValues: message.headers)
        #expect(headers["webhook-id"] == "3f2504e0-4f89-11d3-9a0c-0305e82c3301")
        #expect(headers["webhook-timestamp"] == "1700000000")
        #expect(headers["authorization"] == "Bearer key")
        #expect(headers["content-type"] == "application/json")
        #expect(headers["webhook-signature"] == WebhookMessage.signature(
            secret: "secret", id: "3f2504e0-4f89-11d3-9a0c-0305e82c3301", timestamp: "1700000000", body: message.body))
        _ = try JSONSerialization.jsonObject(with: Data(message.body.utf8))
    }

    @Test func noKeyAndNoSecretSendNeitherHeader() {
        let message = WebhookMessage(
            eventID: UUID(), document: "{}", source: EventSource(tenantID: "t", host: "", region: "r"), sentAt: Date(),
            apiKey: nil, signingSecret: "")
        #expect(!message.headers.contains { $0.0 == "authorization" || $0.0 == "webhook-signature" })
    }
}

struct StorageEventTests {
    @Test func theEnvelopeCarriesUpstreamsFields() {
        let event = StorageEvent.make(
            .objectCreatedPost, bucketID: "b", name: "a/b.txt", payload: ["version": .string("v1x")],
            source: EventSource(tenantID: "t", host: "h", region: "r"), requestID: "req-1",
            at: Date(timeIntervalSince1970: 12.3456))
        #expect(event.orderKey == "b/a/b.txt")
        #expect(event.document["$version"] == .string("v1"))
        #expect(event.document["type"] == .string("ObjectCreated:Post"))
        #expect(event.document["region"] == .string("r"))
        #expect(event.document["applyTime"] == .integer(12345))
        #expect(event.document["payload"] == .object([
            "bucketId": .string("b"), "name": .string("a/b.txt"), "version": .string("v1x"), "reqId": .string("req-1"),
            "tenant": .object(["ref": .string("t"), "host": .string("h")]),
        ]))
    }

    @Test func bucketEventsOrderByBucketAndHaveNoName() {
        let event = StorageEvent.make(
            .bucketDeleted, bucketID: "b", name: nil, payload: [:], source: EventSource(tenantID: "t", host: "", region: "r"),
            requestID: nil)
        #expect(event.orderKey == "b")
        #expect(event.document["payload"]?["name"] == nil)
        #expect(event.document["payload"]?["reqId"] == nil)
        #expect(StorageEventType.bucketCreated.rawValue == "BucketCreated")
    }
}

/// The doorbell keeps a ring that came while nobody waited, and its timer wakes a waiter.
struct DoorbellTests {
    @Test func aRingBeforeTheWaitIsKept() async {
        let bell = Doorbell()
        bell.ring()
        let started = ContinuousClock.now
        await bell.wait(upTo: .seconds(30))
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func theTimerEndsAWaitNobodyRings() async {
        let bell = Doorbell()
        let started = ContinuousClock.now
        await bell.wait(upTo: .milliseconds(50))
        #expect(ContinuousClock.now - started >= .milliseconds(50))
    }

    @Test func aRingWakesAWaiter() async {
        let bell = Doorbell()
        async let waited: Void = bell.wait(upTo: .seconds(30))
        try? await Task.sleep(for: .milliseconds(20))
        bell.ring()
        let started = ContinuousClock.now
        await waited
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}
