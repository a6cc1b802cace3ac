public import Logging
public import StorageCore

/// What a cache purge covers (`DELETE /cdn`, `/cdn/:bucket`, `/cdn/:bucket/*key`).
public enum CachePurgeScope: Sendable, Hashable {
    case tenant
    case bucket(String)
    case object(bucket: String, name: String)
}

/// One purge as the CDN endpoint receives it: upstream's body, `{type, tenant: {ref}, bucketId?,
/// objectName?}`, `type` being `object`, `bucket` or `tenant`, with `-transforms` when only the
/// rendered variants are meant.
public struct CDNPurgeRequest: Sendable, Hashable {
    public var scope: CachePurgeScope
    public var transformations: Bool
    public var tenantID: String

    /// The body POSTed to `CDN_PURGE_ENDPOINT_URL`/purge.
    public var document: JSONValue {
        var members: [String: JSONValue] = ["tenant": .object(["ref": .string(tenantID)])]
        let type: String
        switch scope {
        case .tenant:
            type = "tenant"
        case .bucket(let bucket):
            type = "bucket"
            members["bucketId"] = .string(bucket)
        case .object(let bucket, let name):
            type = "object"
            members["bucketId"] = .string(bucket)
            members["objectName"] = .string(name)
        }
        members["type"] = .string(transformations ? "\(type)-transforms" : type)
        return .object(members)
    }
}

/// The CDN in front of the server, as the purge use case sees it (the composition root
/// provides an HTTP one when `CDN_PURGE_ENDPOINT_URL` is set).
public protocol CDNPurger: Sendable {
    /// Asks the CDN to drop what `request` covers; throws when it did not confirm.
    func purge(_ request: CDNPurgeRequest, logger: Logger) async throws
}

extension StorageService {
    /// Purges cached copies (docs/contract.md §5.13), for the service role only: with
    /// `transformations`, this server's own rendered variants under the scope go (their rows and
    /// their bytes); then the CDN, when one is configured, is asked to drop the same.
    public func purgeCache(_ scope: CachePurgeScope, transformations: Bool, caller: Caller) async throws {
        guard caller.role == "service_role" else { throw StorageError.invalidRole() }
        let logger = caller.logger
        var prefix = "__render/\(settings.tenantID)"
        switch scope {
        case .tenant:
            break
        case .bucket(let bucket):
            try BucketName.validate(bucket)
            prefix += "/\(bucket)"
        case .object(let bucket, let name):
            // An object that does not exist is a 404, as upstream answers.
            _ = try await findObject(bucketID: bucket, name: name, caller: caller, access: .signed, operation: .cdnPurgeObject)
            prefix += "/\(bucket)/\(name)"
        }
        if transformations {
            // Rows first: a variant whose row is gone is only rendered again, while bytes whose
            // row stayed would count against the cache bound until evicted.
            let forgotten = try await database.forgetRenderVariants(under: prefix, logger: logger)
            await janitor.discard([.prefix(prefix)], logger: logger)
            logger.info("rendered variants purged", metadata: ["prefix": "\(prefix)", "rows": "\(forgotten)"])
        }
        guard let cdn else { return }
        let request = CDNPurgeRequest(scope: scope, transformations: transformations, tenantID: settings.tenantID)
        do {
            try await cdn.purge(request, logger: logger)
        } catch {
            logger.warning("the CDN did not confirm a purge", metadata: ["error": "\(String(reflecting: error))"])
            throw StorageError.internalError("Error purging cache")
        }
    }
}
