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
                    output += [lowercaseHexDigit(byte >> 4), lowercaseHexDigit(byte & 0xF)]
                case 0xE2:
                    if let escape = lineSeparatorEscape(bytes, at: index - 1) {
                        output += escape
                        index += 2
                    } else {
                        output.append(byte)
                    }
                default: output.append(byte)
                }
            }
            output.append(UInt8(ascii: "\""))
        }
    }

    private static func needsLook(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == 0xE2
    }

    /// The escape for U+2028 or U+2029 if its three UTF-8 bytes start at `index`, else nil.
    /// JSON allows both raw, but JavaScript before ES2019 ends a string literal at them.
    static func lineSeparatorEscape(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> [UInt8]? {
        guard index + 2 < bytes.count, bytes[index] == 0xE2, bytes[index + 1] == 0x80 else { return nil }
        switch bytes[index + 2] {
        case 0xA8: return lineSeparator
        case 0xA9: return paragraphSeparator
        default: return nil
        }
    }

    private static let lineSeparator = Array("\\u2028".utf8)
    private static let paragraphSeparator = Array("\\u2029".utf8)
}
