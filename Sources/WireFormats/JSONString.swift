/// JSON string literals, written by hand where output order or speed matters (responses, logs).
public enum JSONString {
    /// `text` as a quoted JSON string, escaping quotes, backslashes and control characters
    /// (and U+2028/U+2029, which break JavaScript parsers).
    public static func quoted(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 2)
        appendQuoted(text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `text` to `output` as `quoted(text)` spells it, without an intermediate string.
    public static func appendQuoted(_ text: String, to output: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            output.append(UInt8(ascii: "\""))
            // Most keys and values need no escape: one pass over the bytes, then one copy (a
            // listing page quotes thousands of strings). 0xE2 leads U+2028/U+2029 in UTF-8.
            guard bytes.contains(where: needsLook) else {
                output.append(contentsOf: bytes)
                output.append(UInt8(ascii: "\""))
                return
            }
            // Byte by byte is safe: no byte of a multi-byte UTF-8 sequence is below 0x80.
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""): output += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
                case UInt8(ascii: "\\"): output += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
                case UInt8(ascii: "\n"): output += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
                case UInt8(ascii: "\r"): output += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
                case UInt8(ascii: "\t"): output += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
                case 0..<0x20:
                    output += "\\u00".utf8
                    output += [hexDigit(byte >> 4), hexDigit(byte & 0xF)]
                case 0xE2 where index + 1 < bytes.count && bytes[index] == 0x80 && (bytes[index + 1] == 0xA8 || bytes[index + 1] == 0xA9):
                    output += (bytes[index + 1] == 0xA8 ? "\\u2028" : "\\u2029").utf8
                    index += 2
                default: output.append(byte)
                }
            }
            output.append(UInt8(ascii: "\""))
        }
    }

    private static func needsLook(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == 0xE2
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}
