import Auth
import Database
import FileBackend
import Foundation
import Logging
import NIOCore
import ObjectStore
import StorageCore
import TestSupport
import Testing

@testable import StorageService

/// The use cases against a real Postgres (a scratch database, migrated) and a file store in a
/// temporary directory: no HTTP, no mocks. Callers are made from tokens this suite signs.
@Suite(.enabled(if: ScratchDatabase.isAvailable), .serialized)
struct StorageServiceTests {
    static let secret = "service-tests-secret-with-enough-length-for-hs256"
    static let signer = try! JWTSigner(secret: secret)
    static let verifier = try! JWTVerifier(secret: secret)

    static func caller(role: String, sub: String? = nil) async throws -> Caller {
        var claims: [String: JSONValue] = ["role": .string(role), "exp": .integer(Int64(Date().timeIntervalSince1970) + 600)]
        if let sub { claims["sub"] = .string(sub) }
        let jwt = try await verifier.verify(signer.sign(claims))
        return Caller(jwt: jwt, request: RequestFacts(headers: "{}", method: "POST", path: "/test", requestID: "test"), logger: ScratchDatabase.logger)
    }

    /// A service on a fresh database and directory, with bucket `b` (public: no, limit 1 MiB).
    static func withService(
        _ body: @Sendable (StorageService, String, DatabaseConfiguration) async throws -> Void
    ) async throws {
        try await ScratchDatabase.withDatabase { database, configuration in
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("service-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: root) }
            let store = try FileObjectStore(root: root, bucket: "stub")
            let service = StorageService(
                database: database, store: store,
                settings: StorageSettings(
                    tenantID: "t", uploadFileSizeLimit: 1 << 20, serviceKey: signer.roleKey("service_role")))
            let admin = try await caller(role: "service_role")
            try await service.createBucket(
                BucketCreation(id: "b", name: "b", isPublic: false, fileSizeLimit: nil, allowedMimeTypes: nil, type: "STANDARD"),
                caller: admin)
            try await body(service, root, configuration)
        }
    }

    static func bytes(_ text: String) -> AsyncStream<ByteBuffer> {
        AsyncStream { continuation in
            continuation.yield(ByteBuffer(string: text))
            continuation.finish()
        }
    }

    static func read(_ download: ObjectDownload) async throws -> String {
        var collected = ByteBuffer()
        for try await var chunk in download.content.body { collected.writeBuffer(&chunk) }
        return String(buffer: collected)
    }

    static func request(_ name: String, _ text: String, upsert: Bool = false) -> UploadRequest<AsyncStream<ByteBuffer>> {
        UploadRequest(
            bucketID: "b", name: name, upsert: upsert, mimeType: "text/plain", cacheControl: "max-age=60",
            userMetadata: nil, declaredLength: Int64(text.utf8.count), exactLength: Int64(text.utf8.count),
            body: bytes(text), operation: .objectUpload)
    }

    /// An upload writes the row and the bytes; a second upload of the key without upsert is
    /// refused and changes neither.
    @Test func uploadThenDownload() async throws {
        try await Self.withService { service, _, configuration in
            let admin = try await Self.caller(role: "service_role")
            guard case .stored(let row) = try await service.upload(Self.request("a.txt", "hello"), caller: admin) else {
                Issue.record("a bucket without processing stores at once")
                return
            }
            #expect(row.bucketID == "b" && row.name == "a.txt")
            let download = try await service.download(
                bucketID: "b", name: "a.txt", caller: admin, access: .authenticated, operation: .objectGetAuthenticated,
                conditions: ReadConditions())
            #expect(try await Self.read(download) == "hello")
            await #expect(throws: StorageError.keyAlreadyExists) {
                _ = try await service.upload(Self.request("a.txt", "other"), caller: admin)
            }
            let again = try await service.download(
                bucketID: "b", name: "a.txt", caller: admin, access: .authenticated, operation: .objectGetAuthenticated,
                conditions: ReadConditions())
            #expect(try await Self.read(again) == "hello")
        }
    }

    /// Without a policy, an authenticated user may not write: row-level security decides, and
    /// nothing is left behind.
    @Test func rowLevelSecurityDecides() async throws {
        try await Self.withService { service, root, _ in
            let user = try await Self.caller(role: "authenticated", sub: "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa")
            await #expect(throws: StorageError.accessDenied("new row violates row-level security policy")) {
                _ = try await service.upload(Self.request("denied.txt", "x"), caller: user)
            }
            let left = FileManager.default.enumerator(atPath: root)?.allObjects.compactMap { $0 as? String } ?? []
            #expect(!left.contains { $0.contains("denied.txt") }, "\(left)")
        }
    }

    /// Creation with upload goes through the service: the first chunk is appended, and a
    /// first chunk that fails removes the upload again (the client never got its URL).
    @Test func creationWithUploadAndItsCompensation() async throws {
        try await Self.withService { service, _, configuration in
            let admin = try await Self.caller(role: "service_role")
            let creation = ResumableCreation(
                bucketID: "b", name: "tus.txt", length: .known(10), contentType: "text/plain", cacheControl: "no-cache",
                userMetadata: nil, upsert: false)
            let first = ResumableChunk(offset: 0, uploadLength: nil, contentLength: 4, checksum: nil, body: Self.bytes("0123"))
            let status = try await service.createResumableUpload(creation, firstChunk: first, authority: .caller(admin))
            #expect(status.offset == 4 && !status.isCompleted)
            let rest = ResumableChunk(offset: 4, uploadLength: nil, contentLength: 6, checksum: nil, body: Self.bytes("456789"))
            let done = try await service.appendToResumableUpload(status.id, chunk: rest, authority: .caller(admin))
            #expect(done.offset == 10 && done.isCompleted && done.percent == 100)
            let download = try await service.download(
                bucketID: "b", name: "tus.txt", caller: admin, access: .authenticated, operation: .objectGetAuthenticated,
                conditions: ReadConditions())
            #expect(try await Self.read(download) == "0123456789")

            // A first chunk longer than the declared length fails, and the upload is gone with it.
            var broken = creation
            broken.name = "broken.txt"
            let tooLong = ResumableChunk(offset: 0, uploadLength: nil, contentLength: nil, checksum: nil, body: Self.bytes("01234567890"))
            await #expect(throws: TusErrors.sizeExceeded) {
                _ = try await service.createResumableUpload(broken, firstChunk: tooLong, authority: .caller(admin))
            }
            let rows = try await ScratchDatabase.scalar(
                configuration, "SELECT count(*)::text FROM storage_api.resumable_uploads WHERE name = 'broken.txt'")
            #expect(rows == "0")
            let kept = try await ScratchDatabase.scalar(
                configuration, "SELECT count(*)::text FROM storage_api.resumable_uploads WHERE name = 'tus.txt'")
            #expect(kept == "1")
        }
    }
}
