import Foundation
import StorageCore
import Testing

@testable import StorageAPI

@Suite struct JSONOutputTests {
    @Test func writesEveryKindInOrder() throws {
        let id = try #require(UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F"))
        let document = JSONOutput.object([
            ("id", .uuid(id)),
            ("at", .timestamp(Date(timeIntervalSince1970: 1_613_537_012.77))),
            ("never", .timestamp(nil)),
            ("name", .string("a \"b\"")),
            ("n", .integer(-7)),
            ("ok", .bool(true)),
            ("list", .array([.null, .bool(false)])),
            ("metadata", .value(.object(["size": .integer(5), "eTag": .string("\"x\""), "ratio": .number(0.5)]))),
        ])
        #expect(
            document.text
                == #"{"id":"e621e1f8-c36c-495a-93fc-0c247a3e6e5f","at":"2021-02-17T04:43:32.770Z","never":null,"name":"a \"b\"","#
                + #""n":-7,"ok":true,"list":[null,false],"metadata":{"eTag":"\"x\"","ratio":0.5,"size":5}}"#)
    }
}
