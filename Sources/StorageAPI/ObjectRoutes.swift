import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ObjectStore
import StorageCore
import StorageService

/// Object write, list, copy, move and delete routes (contract §5.1, §5.3–§5.7).
struct ObjectRoutes: Sendable {
    let service: StorageService
    let authenticator: Authenticator

    func register(on router: some RouterMethods<StorageRequestContext>) {
        router.post("object/:bucket/**", use: upload)
        router.put("object/:bucket/**", use: update)
        router.delete("object/:bucket/**", use: deleteOne)
        router.delete("object/:bucket", use: deleteMany)
        router.post("object/list/:bucket", use: listV1)
        router.post("object/list-v2/:bucket", use: listV2)
        router.post("object/copy", use: copy)
        router.post("object/move", use: move)
        for method in [HTTPRequest.Method.post, .put] {
            router.on("object/:bucket", method: method) { request, _ in try Self.emptyKey(request) }
        }
    }

    /// `/object/<bucket>/` reaches upstream's wildcard routes with an empty key (InvalidKey);
    /// this router folds the trailing slash away, so the bucket-only routes answer for it.
    static func emptyKey(_ request: Request) throws -> Response {
        guard request.uri.path.hasSuffix("/") else { throw HTTPError(.notFound) }
        throw StorageError.invalidKey("")
    }

    @Sendable func upload(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let upsert = request.headers[.xUpsert] == "true"
        return try await store(request, context: context, upsert: upsert, operation: .objectUpload)
    }

    /// `PUT` always upserts (upstream creates missing objects too).
    @Sendable func update(_ request: Request, context: StorageRequestContext) async throws -> Response {
        try await store(request, context: context, upsert: true, operation: .objectUploadUpdate)
    }

    private func store(
        _ request: Request, context: StorageRequestContext, upsert: Bool, operation: StorageOperation
    ) async throws -> Response {
        let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: 1)
        let caller = try await authenticator.caller(request, context: context)
        try BucketName.validate(bucket)
        try ObjectKey.validate(key)
        let outcome = try await UploadBodies.upload(
            request, bucket: bucket, key: key, upsert: upsert, operation: operation,
            destination: { try await service.uploadDestination(bucketID: bucket, name: key, caller: caller, operation: operation) }
        ) { uploadRequest in try await service.upload(uploadRequest, caller: caller) }
        guard case .stored(let object) = outcome else { return Responses.processing(bucket: bucket, key: key, request: request) }
        return Responses.json(.object([
            ("Id", .uuid(object.id)),
            ("Key", .string("\(bucket)/\(key)")),
        ]))
    }

    @Sendable func deleteOne(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let (bucket, key) = try StoragePath.bucketAndKey(request.uri.path, staticSegments: 1)
        let caller = try await authenticator.caller(request, context: context)
        try await service.deleteObject(bucketID: bucket, name: key, caller: caller)
        return Responses.message("Successfully deleted")
    }

    @Sendable func deleteMany(_ request: Request, context: StorageRequestContext) async throws -> Response {
        if request.uri.path.hasSuffix("/") { _ = try Self.emptyKey(request) }
        let bucket = try StoragePath.bucket(request.uri.path, staticSegments: 1)
        let caller = try await authenticator.caller(request, context: context)
        let body = try await JSONBody.read(request, context: context)
        let prefixes = try body.required("prefixes", body.stringArray("prefixes"))
        guard !prefixes.isEmpty else { throw StorageError.validation("body/prefixes must NOT have fewer than 1 items") }
        let deleted = try await service.deleteObjects(bucketID: bucket, names: prefixes, caller: caller)
        return Responses.json(.array(deleted.map { .object(JSONOutput.objectRow($0)) }))
    }

    @Sendable func listV1(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let bucket = try StoragePath.bucket(request.uri.path, staticSegments: 2)
        let caller = try await authenticator.caller(request, context: context)
        let body = try await JSONBody.read(request, context: context)
        var options = ListV1Query(prefix: try body.requiredString("prefix"))
        options.limit = try body.integer("limit", minimum: 1) ?? 100
        options.offset = try body.integer("offset", minimum: 0) ?? 0
        options.search = try body.string("search") ?? ""
        if let sortBy = try body.sortBy(columns: ObjectSortColumn.allCases) {
            options.sortColumn = sortBy.column
            options.sortOrder = sortBy.order ?? .asc
        }
        let entries = try await service.listObjects(bucketID: bucket, options: options, caller: caller)
        return Responses.json(.array(entries.map { entry in
            .object([
                ("name", .string(entry.name)),
                ("id", entry.id.map(JSONOutput.uuid) ?? .null),
                ("updated_at", .timestamp(entry.updatedAt)),
                ("created_at", .timestamp(entry.createdAt)),
                ("last_accessed_at", .timestamp(entry.lastAccessedAt)),
                ("metadata", .optional(entry.metadata)),
            ])
        }))
    }

    @Sendable func listV2(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let bucket = try StoragePath.bucket(request.uri.path, staticSegments: 2)
        // Upstream has no header schema here: a missing token fails verification instead.
        let caller = try await authenticator.caller(request, context: context, requireHeader: false)
        let body = try await JSONBody.read(request, context: context, allowEmpty: true)
        var options = ListV2Options()
        options.prefix = try body.string("prefix") ?? ""
        options.limit = try body.integer("limit", minimum: 1) ?? StorageService.listV2MaximumLimit
        options.cursor = try body.string("cursor")
        options.withDelimiter = try body.boolean("with_delimiter") ?? false
        if let sortBy = try body.sortBy(columns: ObjectSortColumn.listV2) {
            options.sortColumn = sortBy.column
            options.sortOrder = sortBy.order
        }
        let page = try await service.listObjectsV2(bucketID: bucket, options: options, caller: caller)
        var members: [(String, JSONOutput)] = [("hasNext", .bool(page.hasNext))]
        if let cursor = page.nextCursor { members.append(("nextCursor", .string(cursor))) }
        if let key = page.nextCursorKey { members.append(("nextCursorKey", .string(key))) }
        let delimited = options.withDelimiter
        members.append(("folders", .array(page.folders.map { folder in
            .object([
                ("key", .optional(folder.key)),
                ("name", .string(folder.name)),
                ("id", .null),
                ("updated_at", .timestamp(folder.updatedAt)),
                ("created_at", .timestamp(folder.createdAt)),
                ("last_accessed_at", .null),
                ("metadata", .null),
            ])
        })))
        members.append(("objects", .array(page.objects.map { object in
            var fields: [(String, JSONOutput)] = delimited ? [("key", .optional(object.key))] : []
            fields += [
                ("id", object.id.map(JSONOutput.uuid) ?? .null),
                ("name", .string(object.name)),
                ("metadata", .optional(object.metadata)),
                ("updated_at", .timestamp(object.updatedAt)),
                ("created_at", .timestamp(object.createdAt)),
                ("last_accessed_at", .timestamp(object.lastAccessedAt)),
            ]
            return .object(fields)
        })))
        // A listed object takes ~340 bytes (name, id, three timestamps, metadata).
        return Responses.json(.object(members), capacity: 512 + 384 * (page.objects.count + page.folders.count))
    }

    @Sendable func copy(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(request, context: context)
        let body = try await JSONBody.read(request, context: context)
        let bucket = try body.requiredString("bucketId")
        let sourceKey = try body.requiredString("sourceKey")
        let destinationKey = try body.requiredString("destinationKey")
        let destinationBucket = try body.string("destinationBucket") ?? bucket
        let metadata = try body.object("metadata")
        let copyRequest = CopyRequest(
            sourceBucket: bucket, sourceKey: sourceKey, destinationBucket: destinationBucket,
            destinationKey: destinationKey, upsert: request.headers[.xUpsert] == "true",
            copyMetadata: try body.boolean("copyMetadata") ?? true,
            mimeType: try metadata?.string("mimetype"),
            cacheControl: try metadata?.string("cacheControl"),
            userMetadata: try UploadBodies.userMetadata(base64: request.headers[.xMetadata]))
        let outcome = try await service.copyObject(copyRequest, caller: caller)
        guard case .stored(let object) = outcome else {
            return Responses.processing(bucket: destinationBucket, key: destinationKey, request: request)
        }
        return Responses.json(.object(
            [("Id", .uuid(object.id)), ("Key", .string("\(destinationBucket)/\(destinationKey)"))]
                + JSONOutput.objectRow(object)))
    }

    @Sendable func move(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(request, context: context)
        let body = try await JSONBody.read(request, context: context)
        let bucket = try body.requiredString("bucketId")
        try await service.moveObject(
            sourceBucket: bucket, sourceKey: try body.requiredString("sourceKey"),
            destinationBucket: try body.string("destinationBucket") ?? bucket,
            destinationKey: try body.requiredString("destinationKey"), caller: caller)
        return Responses.message("Successfully moved")
    }
}

/// Turns an upload request body (multipart form or raw bytes) into an `UploadRequest` (contract §5.1).
enum UploadBodies {
    /// Parses the body's form and hands the streaming upload to `perform`. A form's bucket is
    /// looked up through `destination` before any of its body is read.
    static func upload<Result>(
        _ request: Request, bucket: String, key: String, upsert: Bool, operation: StorageOperation,
        destination: () async throws -> UploadDestination,
        perform: (UploadRequest<ByteStream>) async throws -> Result
    ) async throws -> Result {
        let contentType = request.headers[.contentType] ?? ""
        if let robotsTag = request.headers[.xRobotsTag] { try RobotsTag.validate(robotsTag) }
        if contentType.lowercased().hasPrefix("multipart/form-data") {
            guard let boundary = MultipartUpload.boundary(fromContentType: contentType) else {
                throw StorageError.invalidRequest("Multipart: Boundary not found")
            }
            let target = try await destination()
            let form = try await MultipartUpload.read(request.body, boundary: boundary)
            if let field = form.oversizedField, field == "metadata" || field == "userMetadata" {
                throw UserMetadata.tooLarge
            }
            let cacheControl = form.fields["cacheControl"].flatMap { $0.isEmpty ? nil : "max-age=\($0)" } ?? "no-cache"
            // As busboy reports it: the part's type without parameters.
            let partType = form.fileContentType.map { $0.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces) }
            let mimeType = form.fields["contentType"].flatMap { $0.isEmpty ? nil : $0 }
                ?? partType.flatMap { $0.isEmpty ? nil : $0 } ?? "application/octet-stream"
            return try await perform(UploadRequest(
                bucketID: bucket, name: key, upsert: upsert, mimeType: mimeType, cacheControl: cacheControl,
                userMetadata: try userMetadata(json: form.fields["metadata"] ?? form.fields["userMetadata"]),
                xRobotsTag: request.headers[.xRobotsTag], declaredLength: request.declaredContentLength,
                exactLength: nil, body: ByteStream(form), operation: operation, destination: target))
        }
        return try await perform(UploadRequest(
            bucketID: bucket, name: key, upsert: upsert,
            mimeType: contentType.isEmpty ? "application/octet-stream" : contentType,
            cacheControl: request.headers[.cacheControl] ?? "no-cache",
            userMetadata: try userMetadata(base64: request.headers[.xMetadata]),
            xRobotsTag: request.headers[.xRobotsTag], declaredLength: request.declaredContentLength,
            exactLength: request.declaredContentLength, body: ByteStream(ClientBody(base: request.body)), operation: operation))
    }

    /// `x-metadata`: base64 of a JSON object (docs/hardening.md: anything else is refused).
    static func userMetadata(base64: String?) throws(StorageError) -> JSONValue? {
        guard let base64 else { return nil }
        return try UserMetadata.parse(base64: base64)
    }

    /// A JSON metadata field (form field, TUS metadata): a JSON object, or refused.
    static func userMetadata(json: String?) throws(StorageError) -> JSONValue? {
        guard let json else { return nil }
        return try UserMetadata.parse(json: json)
    }
}

/// A raw request body whose transport failures (the client went away) read as `Aborted`.
struct ClientBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: RequestBody

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        mutating func next() async throws -> ByteBuffer? {
            do {
                return try await base.next()
            } catch {
                throw StorageError.aborted
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator()) }
}
