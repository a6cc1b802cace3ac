import Auth
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import StorageCore
import StorageServer
import TestSupport
import Testing

/// The whole server in-process (router test client, real Postgres, file backend) with a policy
/// that lets `authenticated` users touch only `<their sub>/…` in one bucket.
@Suite(.enabled(if: ScratchDatabase.isAvailable))
struct RowLevelSecurityTests {
    static let secret = "api-tests-secret-with-enough-length-for-hs256"
    static let signer = try! JWTSigner(secret: secret)
    static let alice = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
    static let bob = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"

    static func token(_ sub: String) -> String {
        signer.sign(["role": .string("authenticated"), "sub": .string(sub), "exp": .integer(Int64(Date().timeIntervalSince1970) + 600)])
    }

    struct Client {
        let client: any TestClientProtocol

        @discardableResult
        func send(
            _ method: HTTPRequest.Method, _ path: String, token: String, json: String? = nil, body: String? = nil,
            headers: HTTPFields = [:]
        ) async throws -> (status: Int, body: String) {
            var fields = headers
            fields[.authorization] = "Bearer \(token)"
            if json != nil { fields[.contentType] = "application/json" }
            let payload = (json ?? body).map { ByteBuffer(string: $0) }
            return try await client.execute(uri: "/storage/v1" + path, method: method, headers: fields, body: payload) { response in
                (Int(response.status.code), String(buffer: response.body))
            }
        }

        /// The HTTP status, logical status and code of an error envelope (nil fields when the body is not one).
        func denial(
            _ method: HTTPRequest.Method, _ path: String, token: String, json: String? = nil, body: String? = nil
        ) async throws -> Denial {
            let (status, text) = try await send(method, path, token: token, json: json, body: body)
            let envelope = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
            return Denial(status: status, statusCode: envelope?["statusCode"] as? String, code: envelope?["code"] as? String)
        }
    }

    struct Denial: Equatable, CustomStringConvertible {
        var status: Int
        var statusCode: String?
        var code: String?
        var description: String { "\(status) \(statusCode ?? "-") \(code ?? "-")" }
    }

    /// Runs `body` against a fresh server, bucket `b` and the folder policy.
    func withServer(_ body: @Sendable @escaping (Client) async throws -> Void) async throws {
        try await ScratchDatabase.with { configuration in
            let storage = FileManager.default.temporaryDirectory.appendingPathComponent("api-tests-\(UUID().uuidString)").path
            let server = try ServerConfiguration.fromEnvironment([
                "DATABASE_URL": ScratchDatabase.url(configuration), "AUTH_JWT_SECRET": Self.secret,
                "FILE_STORAGE_BACKEND_PATH": storage, "PORT": "0", "LOG_LEVEL": "warning",
            ])
            let application = try StorageServer.makeApplication(server, logger: ScratchDatabase.logger)
            try await application.test(.router) { client in
                let service = Self.signer.roleKey("service_role")
                let created = try await Client(client: client).send(.post, "/bucket", token: service, json: #"{"name":"b"}"#)
                #expect(created.status == 200)
                let policy = "(bucket_id = 'b' and (storage.foldername(name))[1] = auth.uid()::text)"
                try await ScratchDatabase.administer(
                    configuration, "create policy own_folder on storage.objects for all to authenticated using \(policy) with check \(policy)")
                try await body(Client(client: client))
            }
        }
    }

    @Test func policyIsHonouredOnEveryRoute() async throws {
        try await withServer { client in
            let alice = Self.token(Self.alice), bob = Self.token(Self.bob)
            let mine = "\(Self.alice)/note.txt", theirs = "\(Self.bob)/note.txt"

            // Upload: own folder yes, other folder no.
            #expect(try await client.send(.post, "/object/b/\(mine)", token: alice, body: "alice").status == 200)
            #expect(try await client.send(.post, "/object/b/\(theirs)", token: bob, body: "bob").status == 200)
            let denied = try await client.denial(.post, "/object/b/\(Self.bob)/intruder.txt", token: alice, body: "x")
            #expect(denied == Denial(status: 400, statusCode: "403", code: "AccessDenied"))
            // Upsert needs select + update on the existing row.
            #expect(try await client.send(.put, "/object/b/\(mine)", token: alice, body: "alice v2").status == 200)
            #expect(
                try await client.denial(.put, "/object/b/\(theirs)", token: alice, body: "overwrite")
                    == Denial(status: 400, statusCode: "403", code: "AccessDenied"))

            // Reads.
            #expect(try await client.send(.get, "/object/b/\(mine)", token: alice).body == "alice v2")
            #expect(try await client.send(.get, "/object/b/\(theirs)", token: alice).body.contains(#""error":"not_found""#))
            #expect(try await client.send(.get, "/object/authenticated/b/\(theirs)", token: alice).body.contains("not_found"))
            #expect(try await client.send(.get, "/object/info/b/\(mine)", token: alice).status == 200)
            #expect(
                try await client.denial(.get, "/object/info/b/\(theirs)", token: alice)
                    == Denial(status: 400, statusCode: "404", code: "NoSuchKey"))
            #expect(try await client.send(.head, "/object/b/\(mine)", token: alice).status == 200)
            #expect(try await client.send(.head, "/object/b/\(theirs)", token: alice).status == 400)

            // Listing shows only what the policy lets through.
            let listing = try await client.send(.post, "/object/list/b", token: alice, json: #"{"prefix":""}"#)
            #expect(listing.body.contains(Self.alice) && !listing.body.contains(Self.bob))
            let listingV2 = try await client.send(.post, "/object/list-v2/b", token: alice, json: #"{"prefix":""}"#)
            #expect(listingV2.body.contains(mine) && !listingV2.body.contains(theirs))

            // Copy and move.
            let copy = #"{"bucketId":"b","sourceKey":"\#(mine)","destinationKey":"\#(Self.alice)/copy.txt"}"#
            #expect(try await client.send(.post, "/object/copy", token: alice, json: copy).status == 200)
            let steal = #"{"bucketId":"b","sourceKey":"\#(theirs)","destinationKey":"\#(Self.alice)/stolen.txt"}"#
            #expect(
                try await client.denial(.post, "/object/copy", token: alice, json: steal)
                    == Denial(status: 400, statusCode: "404", code: "NoSuchKey"))
            let plant = #"{"bucketId":"b","sourceKey":"\#(mine)","destinationKey":"\#(Self.bob)/planted.txt"}"#
            #expect(
                try await client.denial(.post, "/object/copy", token: alice, json: plant)
                    == Denial(status: 400, statusCode: "403", code: "AccessDenied"))
            let move = #"{"bucketId":"b","sourceKey":"\#(Self.alice)/copy.txt","destinationKey":"\#(Self.alice)/moved.txt"}"#
            #expect(try await client.send(.post, "/object/move", token: alice, json: move).status == 200)
            let moveAway = #"{"bucketId":"b","sourceKey":"\#(Self.alice)/moved.txt","destinationKey":"\#(Self.bob)/moved.txt"}"#
            #expect(
                try await client.denial(.post, "/object/move", token: alice, json: moveAway)
                    == Denial(status: 400, statusCode: "403", code: "AccessDenied"))
            let moveTheirs = #"{"bucketId":"b","sourceKey":"\#(theirs)","destinationKey":"\#(Self.alice)/taken.txt"}"#
            #expect(
                try await client.denial(.post, "/object/move", token: alice, json: moveTheirs)
                    == Denial(status: 400, statusCode: "404", code: "NoSuchKey"))

            // Deletes.
            #expect(
                try await client.denial(.delete, "/object/b/\(theirs)", token: alice)
                    == Denial(status: 400, statusCode: "404", code: "NoSuchKey"))
            let removed = try await client.send(.delete, "/object/b", token: alice, json: #"{"prefixes":["\#(theirs)","\#(Self.alice)/moved.txt"]}"#)
            #expect(removed.body.contains("moved.txt") && !removed.body.contains(Self.bob))
            #expect(try await client.send(.delete, "/object/b/\(mine)", token: alice).status == 200)

            // Bob's object survived everything Alice tried.
            #expect(try await client.send(.get, "/object/b/\(theirs)", token: bob).body == "bob")
        }
    }

    @Test func envelopeForUnknownRoutesAndMissingHeaders() async throws {
        try await withServer { client in
            let unknown = try await client.send(.get, "/object", token: "x")
            #expect(unknown.status == 404)
            #expect(unknown.body == #"{"statusCode":"404","error":"Not Found","message":"Route GET:/object not found","code":"InvalidRequest"}"#)
            let response = try await client.client.execute(uri: "/storage/v1/bucket", method: .get) { ($0.status, String(buffer: $0.body)) }
            #expect(response.0 == .badRequest)
            #expect(response.1 == #"{"statusCode":"400","error":"Error","message":"headers must have required property 'authorization'","code":"InvalidRequest"}"#)
        }
    }
}
