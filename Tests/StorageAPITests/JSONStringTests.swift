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
        var output = "["
        JSONString.appendQuoted("a", to: &output)
        output += ","
        JSONString.appendQuoted("b\"", to: &output)
        #expect(output == #"["a","b\"""#)
    }
}
