import Foundation
import Hummingbird
import S3Protocol
import StorageAPI
import StorageService

/// Who may sign requests to `/s3` (spec §5.13): the static key pair, acting as the service role,
/// and session-token mode, where the access key id is the tenant id, the secret is the anon key
/// and `x-amz-security-token` carries the user's JWT, verified like a bearer token.
public struct S3Credentials: Sendable {
    /// `S3_PROTOCOL_ACCESS_KEY_ID` / `_SECRET`; nil turns the static pair off.
    public var accessKeyID: String?
    public var secretAccessKey: String?
    /// The JWT a static-key request acts with (the service role's).
    public var serviceKey: String
    /// Session-token mode's access key id (`TENANT_ID`) and secret (`ANON_KEY`; nil turns the mode
    /// off: a key minted at start-up differs between replicas and restarts, so clients could not sign with it).
    public var tenantID: String
    public var anonKey: String?

    public init(accessKeyID: String?, secretAccessKey: String?, serviceKey: String, tenantID: String, anonKey: String?) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.serviceKey = serviceKey
        self.tenantID = tenantID
        self.anonKey = anonKey
    }

    /// The secret `accessKey` signs with, if it is one of ours.
    func secret(for accessKey: String) -> String? {
        if let accessKeyID, let secretAccessKey, accessKey == accessKeyID { return secretAccessKey }
        if let anonKey, accessKey == tenantID { return anonKey }
        return nil
    }

    /// The JWT a verified request acts with.
    func token(for request: VerifiedS3Request) throws(S3Failure) -> String {
        if let accessKeyID, request.accessKey == accessKeyID, secretAccessKey != nil { return serviceKey }
        guard let token = request.securityToken, !token.isEmpty else {
            throw S3Failure(code: "AccessDenied", status: 403, message: "Session-token mode needs the user's JWT in x-amz-security-token")
        }
        return token
    }
}
