import Foundation
import Testing

@testable import StorageCore

/// The single-pass JSON reader agrees with `JSONDecoder` on what it accepts and refuses what is
/// not JSON.
@Suite struct JSONParserTests {
    static let documents = [
        #"{"eTag":"\"abc\"","size":4096,"mimetype":"image/png","cacheControl":"max-age=3600","lastModified":"2026-01-01T00:00:00.000Z"}"#,
        #"{"a":[1,-2,3.5,1e3,-0.25E-2,true,false,null,{}],"b":{"c":[]},"d":""}"#,
        #"  {"escapes":"\\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 \u0000"}  "#,
        #"{"big":9223372036854775807,"bigger":9223372036854775808,"neg":-9223372036854775808}"#,
        #""just a string""#, "42", "-0", "[]", "null", "3.0", "1.5e1", "-2.5", "1e300",
        #"{"unicode":"grüße 😀 中文"}"#,
    ]

    @Test(arguments: documents)
    func agreesWithJSONDecoder(_ text: String) throws {
        let parsed = try JSONValue(parsing: text)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(parsed == decoded)
    }

    @Test func numbersKeepTheirKind() throws {
        #expect(try JSONValue(parsing: "7") == .integer(7))
        #expect(try JSONValue(parsing: "7.5") == .number(7.5))
        #expect(try JSONValue(parsing: "1e2") == .integer(100))
        #expect(try JSONValue(parsing: "9223372036854775808") == .number(9_223_372_036_854_775_808))
    }

    static let invalid = [
        "", "{", "[1,]", #"{"a":1,}"#, #"{"a" 1}"#, #"{a:1}"#, "01", "1.", ".5", "1e", "+1", "tru", "nul",
        #""unterminated"#, "\"tab\there\"", #""\x""#, #""\ud800""#, #""\udc00""#, #""\u12""#, "[1] 2", "{}}",
    ]

    @Test(arguments: invalid)
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    @Test func deepNestingIsRefusedNotRecursedInto() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect((try? JSONValue(parsing: fine)) != nil)
    }
}
