import Testing
import WireFormats

@Suite struct JSONStringTests {
    @Test func plainTextIsQuotedAsIs() {
        #expect(JSONString.quoted("dir-042/sub-07/file.bin") == #""dir-042/sub-07/file.bin""#)
        #expect(JSONString.quoted("") == #""""#)
        #expect(JSONString.quoted("café ☃") == "\"café ☃\"")
    }

    @Test func escapesWhatJSONAndJavaScriptNeed() {
        #expect(JSONString.quoted("a\"b\\c") == #""a\"b\\c""#)
        #expect(JSONString.quoted("line\nnext\ttab\r") == #""line\nnext\ttab\r""#)
        #expect(JSONString.quoted("\u{1}\u{1F}") == #""\u0001\u001f""#)
        #expect(JSONString.quoted("x\u{2028}y\u{2029}") == #""x\u2028y\u2029""#)
        // 0xE2 also leads other characters, which stay as they are.
        #expect(JSONString.quoted("→ ✓") == "\"→ ✓\"")
    }

    @Test func appendsInPlace() {
        var output = Array("[".utf8)
        JSONString.appendQuoted("a", to: &output)
        output += ",".utf8
        JSONString.appendQuoted("b\"", to: &output)
        #expect(String(decoding: output, as: UTF8.self) == #"["a","b\"""#)
    }

    @Test func escapesAtTheEdgesOfTheText() {
        // An escape first or last, U+2028/U+2029 as the last character, other 0xE2-led ones kept.
        #expect(JSONString.quoted("\"") == #""\"""#)
        #expect(JSONString.quoted("\u{7F}\u{0}") == "\"\u{7F}\\u0000\"")
        #expect(JSONString.quoted("\u{2028}") == #""\u2028""#)
        #expect(JSONString.quoted("a\u{2029}") == #""a\u2029""#)
        #expect(JSONString.quoted("\u{2000}\u{20AC}\"") == "\"\u{2000}\u{20AC}\\\"\"")
    }

    @Test func compactDropsOnlyTheWhitespaceBetweenTokens() {
        func compact(_ text: String) -> String {
            var output: [UInt8] = []
            JSONCompact.append(Array(text.utf8), to: &output)
            return String(decoding: output, as: UTF8.self)
        }
        // Postgres's jsonb spelling.
        #expect(compact(#"{"eTag": "\"abc\"", "size": 5, "list": [1, 2.50, null], "deep": {"a b": " x "}}"#)
            == #"{"eTag":"\"abc\"","size":5,"list":[1,2.50,null],"deep":{"a b":" x "}}"#)
        // An escaped backslash before a quote ends the string; an escaped quote does not.
        #expect(compact(#"{"k": "a\\", "m": "b\" c"}"#) == #"{"k":"a\\","m":"b\" c"}"#)
        #expect(compact(" [ ] \n") == "[]")
        #expect(compact("{\"line\": \"x\u{2028}y\u{2029}\", \"€\": \"→\"}") == #"{"line":"x\u2028y\u2029","€":"→"}"#)
    }
}
