/// Splits an SQL script into single statements.
///
/// postgres-nio only speaks the extended query protocol, which accepts one command per message, so
/// a migration file is cut at top-level semicolons. Semicolons inside quotes (`'…'`, `E'…'`,
/// `"…"`), comments (`--`, nested `/* */`) and dollar-quoted bodies (`$$…$$`, `$tag$…$tag$`) do not
/// split. Chunks holding only whitespace and comments are dropped.
public enum SQLScript {
    public static func statements(in script: String) -> [String] {
        let bytes = Array(script.utf8)
        var statements: [String] = []
        var start = 0
        var index = 0
        var hasCode = false

        func finish(upTo end: Int) {
            if hasCode {
                let text = String(decoding: bytes[start..<end], as: UTF8.self)
                statements.append(text.trimmingWhitespace())
            }
            hasCode = false
        }

        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "-") where next(bytes, index) == UInt8(ascii: "-"):
                index = skipLineComment(bytes, from: index)
            case UInt8(ascii: "/") where next(bytes, index) == UInt8(ascii: "*"):
                index = skipBlockComment(bytes, from: index)
            case UInt8(ascii: "'"):
                let escapes = index > 0 && (bytes[index - 1] == UInt8(ascii: "E") || bytes[index - 1] == UInt8(ascii: "e"))
                    && (index < 2 || !isIdentifierByte(bytes[index - 2]))
                index = skipQuoted(bytes, from: index, quote: UInt8(ascii: "'"), backslashEscapes: escapes)
                hasCode = true
            case UInt8(ascii: "\""):
                index = skipQuoted(bytes, from: index, quote: UInt8(ascii: "\""), backslashEscapes: false)
                hasCode = true
            case UInt8(ascii: "$"):
                if let tagEnd = dollarTagEnd(bytes, from: index) {
                    let tag = bytes[index...tagEnd]
                    index = skipDollarQuoted(bytes, bodyStart: tagEnd + 1, tag: tag)
                } else {
                    index += 1
                }
                hasCode = true
            case UInt8(ascii: ";"):
                finish(upTo: index)
                index += 1
                start = index
            default:
                if !isWhitespace(byte) { hasCode = true }
                index += 1
            }
        }
        finish(upTo: bytes.count)
        return statements
    }

    private static func next(_ bytes: [UInt8], _ index: Int) -> UInt8? {
        index + 1 < bytes.count ? bytes[index + 1] : nil
    }

    private static func skipLineComment(_ bytes: [UInt8], from index: Int) -> Int {
        var index = index + 2
        while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
        return index
    }

    private static func skipBlockComment(_ bytes: [UInt8], from index: Int) -> Int {
        var depth = 0
        var index = index
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "/"), next(bytes, index) == UInt8(ascii: "*") {
                depth += 1
                index += 2
            } else if bytes[index] == UInt8(ascii: "*"), next(bytes, index) == UInt8(ascii: "/") {
                depth -= 1
                index += 2
                if depth == 0 { return index }
            } else {
                index += 1
            }
        }
        return index
    }

    private static func skipQuoted(_ bytes: [UInt8], from index: Int, quote: UInt8, backslashEscapes: Bool) -> Int {
        var index = index + 1
        while index < bytes.count {
            let byte = bytes[index]
            if backslashEscapes, byte == UInt8(ascii: "\\") {
                index += 2
            } else if byte == quote {
                if next(bytes, index) == quote {
                    index += 2
                } else {
                    return index + 1
                }
            } else {
                index += 1
            }
        }
        return index
    }

    /// The index of the closing `$` of a dollar-quote tag starting at `index`, or nil for `$1` and the like.
    private static func dollarTagEnd(_ bytes: [UInt8], from index: Int) -> Int? {
        if index > 0, isIdentifierByte(bytes[index - 1]) { return nil }
        var cursor = index + 1
        while cursor < bytes.count {
            let byte = bytes[cursor]
            if byte == UInt8(ascii: "$") { return cursor }
            let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
            guard isIdentifierByte(byte), !(cursor == index + 1 && isDigit) else { return nil }
            cursor += 1
        }
        return nil
    }

    private static func skipDollarQuoted(_ bytes: [UInt8], bodyStart: Int, tag: ArraySlice<UInt8>) -> Int {
        var index = bodyStart
        while index + tag.count <= bytes.count {
            if bytes[index] == UInt8(ascii: "$"), bytes[index..<(index + tag.count)].elementsEqual(tag) {
                return index + tag.count
            }
            index += 1
        }
        return bytes.count
    }

    private static func isIdentifierByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), 0x80...0xFF:
            return true
        default:
            return false
        }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\t")
            || byte == UInt8(ascii: "\r")
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
