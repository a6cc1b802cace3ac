/// JSON string literals, written by hand where output order or speed matters (responses, logs).
public enum JSONString {
    /// `text` as a quoted JSON string, escaping quotes, backslashes and control characters
    /// (and U+2028/U+2029, which break JavaScript parsers).
    public static func quoted(_ text: String) -> String {
        var output = ""
        output.reserveCapacity(text.utf8.count + 2)
        appendQuoted(text, to: &output)
        return output
    }

    /// Appends `text` to `output` as `quoted(text)` would spell it, without an intermediate string.
    public static func appendQuoted(_ text: String, to output: inout String) {
        output += "\""
        // Most keys and values need no escape: one pass over the bytes, then one copy (a listing
        // page quotes thousands of strings). 0xE2 leads U+2028/U+2029 in UTF-8.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 == 0xE2 }) {
            output += text
            output += "\""
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}
