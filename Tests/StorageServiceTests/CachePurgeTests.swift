import StorageCore
import Testing

@testable import StorageService

/// The body a CDN purge endpoint receives, as upstream sends it.
@Suite struct CachePurgeTests {
    @Test(arguments: [
        (CachePurgeScope.tenant, false, #"{"tenant":{"ref":"t"},"type":"tenant"}"#),
        (.tenant, true, #"{"tenant":{"ref":"t"},"type":"tenant-transforms"}"#),
        (.bucket("b"), false, #"{"bucketId":"b","tenant":{"ref":"t"},"type":"bucket"}"#),
        (.object(bucket: "b", name: "d/x.png"), true,
         #"{"bucketId":"b","objectName":"d/x.png","tenant":{"ref":"t"},"type":"object-transforms"}"#),
    ])
    func documentNamesTheScope(_ scope: CachePurgeScope, _ transformations: Bool, _ expected: String) throws {
        let document = CDNPurgeRequest(scope: scope, transformations: transformations, tenantID: "t").document
        #expect(try JSONValue(parsing: expected) == document)
    }
}
