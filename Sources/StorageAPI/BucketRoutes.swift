import HTTPTypes
import Hummingbird
import StorageCore
import StorageService

/// `/bucket` routes (contract §4).
struct BucketRoutes: Sendable {
    let service: StorageService
    let authenticator: Authenticator

    func register(on router: some RouterMethods<StorageRequestContext>) {
        router.get("bucket", use: list)
        router.post("bucket", use: create)
        router.get("bucket/:bucketId", use: get)
        router.put("bucket/:bucketId", use: update)
        router.delete("bucket/:bucketId", use: delete)
        router.post("bucket/:bucketId/empty", use: empty)
    }

    @Sendable func list(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(request, context: context)
        let query = request.query
        var options = BucketListOptions()
        options.limit = try Self.integer(query["limit"], name: "limit", minimum: 1)
        options.offset = try Self.integer(query["offset"], name: "offset", minimum: 0)
        if let column = query["sortColumn"] {
            guard let sortColumn = BucketListOptions.SortColumn(rawValue: column) else {
                throw StorageError.validation("querystring/sortColumn must be equal to one of the allowed values")
            }
            options.sortColumn = sortColumn
        }
        if let order = query["sortOrder"] {
            guard order == "asc" || order == "desc" else {
                throw StorageError.validation("querystring/sortOrder must be equal to one of the allowed values")
            }
            options.descending = order == "desc"
        }
        options.search = query["search"]
        let buckets = try await service.listBuckets(caller: caller, options: options)
        let includeType = Self.clientUnderstandsBucketType(request)
        return Responses.json(.array(buckets.map { .bucket($0, includeType: includeType) }))
    }

    @Sendable func get(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(request, context: context)
        let bucket = try await service.bucket(id: try StoragePath.bucket(request.uri.path, staticSegments: 1), caller: caller)
        return Responses.json(.bucket(bucket, includeType: false))
    }

    @Sendable func create(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(request, context: context)
        let body = try await JSONBody.read(request, context: context)
        let name = try body.requiredString("name")
        let creation = BucketCreation(
            id: try body.string("id") ?? name,
            name: name,
            isPublic: try body.boolean("public") ?? false,
            fileSizeLimit: try Self.fileSizeLimit(body),
            allowedMimeTypes: try body.stringArray("allowed_mime_types")?.filter { !$0.isEmpty },
            type: try body.choice("type", ["STANDARD", "ANALYTICS"]) ?? "STANDARD")
        try await service.createBucket(creation, caller: caller)
        return Responses.json(.object([("name", .string(creation.id))]))
    }

    @Sendable func update(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(request, context: context)
        let id = try StoragePath.bucket(request.uri.path, staticSegments: 1)
        let body = try await JSONBody.read(request, context: context, allowEmpty: true)
        let changes = BucketChanges(
            isPublic: try body.boolean("public"),
            fileSizeLimit: body.has("file_size_limit") ? .set(try Self.fileSizeLimit(body)) : .unchanged,
            allowedMimeTypes: body.has("allowed_mime_types")
                ? .set(try body.stringArray("allowed_mime_types")?.filter { !$0.isEmpty }) : .unchanged)
        try await service.updateBucket(id: id, changes: changes, caller: caller)
        return Responses.message("Successfully updated")
    }

    @Sendable func delete(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(request, context: context)
        try await service.deleteBucket(id: try StoragePath.bucket(request.uri.path, staticSegments: 1), caller: caller)
        return Responses.message("Successfully deleted")
    }

    @Sendable func empty(_ request: Request, context: StorageRequestContext) async throws -> Response {
        let caller = try await authenticator.caller(request, context: context)
        try await service.emptyBucket(id: try StoragePath.bucket(request.uri.path, staticSegments: 1), caller: caller)
        return Responses.message("Empty bucket has been queued. Completion may take up to an hour.")
    }

    /// `file_size_limit`: null, bytes as a number, or a size such as `"20MB"` (contract §6.3).
    static func fileSizeLimit(_ body: JSONBody) throws -> Int64? {
        switch body.members["file_size_limit"] {
        case nil, .null?: return nil
        case .string(let text)?: return try FileSizeLimit.parse(text)
        case .integer(let bytes)? where bytes >= 0: return bytes
        case .number(let bytes)? where bytes >= 0:
            // A whole number too large for 64 bits is as invalid as a fraction.
            if let whole = Int64(exactly: bytes) { return whole }
            throw StorageError.validation("body/file_size_limit must be integer or string")
        default: throw StorageError.validation("body/file_size_limit must be integer or string")
        }
    }

    static func integer(_ text: String?, name: String, minimum: Int) throws -> Int? {
        guard let text else { return nil }
        guard let value = Int(text) else { throw StorageError.validation("querystring/\(name) must be integer") }
        guard value >= minimum else { throw StorageError.validation("querystring/\(name) must be >= \(minimum)") }
        return value
    }

    /// Clients from before bucket types (storage3 < 0.12.1, supabase-py < 2.18.0) reject `type`.
    static func clientUnderstandsBucketType(_ request: Request) -> Bool {
        if let info = request.headers[.xClientInfo], let version = Self.version(in: info, after: "supabase-py/"),
            version < [2, 18, 0]
        {
            return false
        }
        if let agent = request.headers[.userAgent], let version = Self.version(in: agent, after: "supabase-py/storage3 v"),
            version < [0, 12, 1]
        {
            return false
        }
        return true
    }

    private static func version(in header: String, after marker: String) -> [Int]? {
        guard let range = header.range(of: marker, options: .caseInsensitive) else { return nil }
        let numbers = header[range.upperBound...].prefix { $0.isNumber || $0 == "." }.split(separator: ".").compactMap { Int($0) }
        return numbers.count >= 3 ? Array(numbers.prefix(3)) : nil
    }
}

extension Array where Element == Int {
    fileprivate static func < (lhs: [Int], rhs: [Int]) -> Bool { lhs.lexicographicallyPrecedes(rhs) }
}
