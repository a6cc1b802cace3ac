/// JSON documents written without insignificant whitespace.
public enum JSONCompact {
    /// Appends the valid JSON `document` to `output` without the whitespace between tokens
    /// (Postgres prints jsonb as `{"a": 1, "b": 2}`), and with U+2028/U+2029 inside strings
    /// escaped, as `JSONString` writes them. Everything else is copied as it is: the document's
    /// own escapes and number spellings stay.
    public static func append(_ document: [UInt8], to output: inout [UInt8]) {
        document.withUnsafeBufferPointer { bytes in
            // Copied in runs between the bytes left out or replaced: one append per run.
            var runStart = 0
            var index = 0
            var inString = false
            func flush(upTo end: Int) {
                if runStart < end { output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<end])) }
            }
            while index < bytes.count {
                let byte = bytes[index]
                if inString {
                    switch byte {
                    case UInt8(ascii: "\\"):
                        index += 2  // an escape's next byte never ends the string
                    case UInt8(ascii: "\""):
                        inString = false
                        index += 1
                    case 0xE2:
                        if let escape = JSONString.lineSeparatorEscape(bytes, at: index) {
                            flush(upTo: index)
                            output += escape
                            index += 3
                            runStart = index
                        } else {
                            index += 1
                        }
                    default:
                        index += 1
                    }
                } else {
                    switch byte {
                    case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                        flush(upTo: index)
                        index += 1
                        runStart = index
                    case UInt8(ascii: "\""):
                        inString = true
                        index += 1
                    default:
                        index += 1
                    }
                }
            }
            flush(upTo: min(index, bytes.count))
        }
    }
}
