/// Makes an SVG safe to serve from the API's origin and to hand to librsvg: only SVG's drawing
/// elements and their presentation attributes are kept; scripts, event handlers, animation
/// (which can rewrite links), foreign content, DOCTYPEs (and with them entity declarations),
/// processing instructions and every reference that leaves the document are removed.
///
/// An allow list, not a deny list: an element or attribute this type does not know is dropped,
/// with its content. A document that is not well-formed enough to tell what it holds (no `svg`
/// root, mismatched or unclosed tags, a quote left open) is refused rather than guessed at.
public enum SVGSanitizer {
    /// SVG sources are read whole into memory (twice: the source and the result), so they
    /// are bounded on their own, far below the upload limit.
    public static let maximumBytes = 16 << 20

    /// The sanitized document; throws `unsupportedSource` for what is not a well-formed SVG.
    public static func sanitize(_ source: some Collection<UInt8>) throws(ImageTransformError) -> [UInt8] {
        var parser = Parser(Array(source))
        do {
            return try parser.run()
        } catch {
            throw ImageTransformError(.unsupportedSource, "not a well-formed SVG: \(error.reason)")
        }
    }

    /// SVG elements kept (case-sensitive, as SVG is). Not here, so dropped with their content:
    /// `script`, `foreignObject`, `animate`, `set`, `animateMotion`, `animateTransform`,
    /// `iframe`, `object`, `embed`, `metadata`, anything with a namespace prefix.
    static let elements: Set<String> = [
        "svg", "g", "defs", "desc", "title", "symbol", "use", "image", "switch", "a", "view", "style",
        "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
        "text", "tspan", "textPath",
        "linearGradient", "radialGradient", "stop", "pattern", "clipPath", "mask", "marker", "filter",
        "feBlend", "feColorMatrix", "feComponentTransfer", "feComposite", "feConvolveMatrix", "feDiffuseLighting",
        "feDisplacementMap", "feDistantLight", "feDropShadow", "feFlood", "feFuncA", "feFuncB", "feFuncG", "feFuncR",
        "feGaussianBlur", "feImage", "feMerge", "feMergeNode", "feMorphology", "feOffset", "fePointLight",
        "feSpecularLighting", "feSpotLight", "feTile", "feTurbulence",
    ]

    /// Prefixed attributes kept; other prefixed ones (`xml:base`, `xlink:actuate`, `ev:event`) go.
    static let prefixedAttributes: Set<String> = ["xlink:href", "xlink:title", "xml:space", "xml:lang"]

    struct Failure: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// One pass over the document, writing what is kept as it goes.
    struct Parser {
        let bytes: [UInt8]
        var index = 0
        var output: [UInt8] = []
        /// Open elements that were kept, innermost last.
        var open: [String] = []
        /// Inside a dropped element: how many of its elements are still open.
        var skipping = 0
        var sawRoot = false
        var rootClosed = false
        /// The text of the `style` element being read, written once it closes.
        var style: [UInt8]?

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        }

        mutating func run() throws(Failure) -> [UInt8] {
            output.reserveCapacity(bytes.count)
            while index < bytes.count {
                if matches("<!--") {
                    try skip(past: "-->")
                } else if matches("<![CDATA[") {
                    index += 9
                    let start = index
                    try skip(past: "]]>")
                    text(Array(bytes[start..<index - 3]), raw: true)
                } else if matches("<!") {
                    guard !sawRoot else { throw Failure("a declaration inside the document") }
                    try skipDeclaration()
                } else if matches("<?") {
                    try skip(past: "?>")
                } else if matches("</") {
                    try endTag()
                } else if matches("<") {
                    try startTag()
                } else {
                    let start = index
                    while index < bytes.count, bytes[index] != UInt8(ascii: "<") { index += 1 }
                    text(Array(bytes[start..<index]), raw: false)
                }
            }
            guard sawRoot else { throw Failure("no svg root element") }
            guard open.isEmpty, skipping == 0 else { throw Failure("an element is not closed") }
            return output
        }

        // MARK: Markup

        mutating func startTag() throws(Failure) {
            index += 1
            let name = try self.name()
            var attributes: [(String, String)] = []
            while true {
                skipWhitespace()
                guard index < bytes.count else { throw Failure("a tag is not closed") }
                if matches("/>") || matches(">") { break }
                let attribute = try self.name()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { throw Failure("an attribute without a value") }
                index += 1
                skipWhitespace()
                attributes.append((attribute, try quotedValue()))
            }
            let selfClosing = matches("/>")
            index += selfClosing ? 2 : 1
            guard !rootClosed else { throw Failure("content after the root element") }
            if skipping > 0 {
                if !selfClosing { skipping += 1 }
                return
            }
            if !sawRoot {
                guard name == "svg" else { throw Failure("the root element is \(name), not svg") }
                sawRoot = true
            }
            guard SVGSanitizer.elements.contains(name) else {
                if !selfClosing { skipping = 1 }
                return
            }
            write("<" + name)
            for (attribute, value) in attributes where SVGSanitizer.keeps(attribute, value) {
                write(" \(attribute)=\"")
                output += escaped(Array(value.utf8), quote: true)
                write("\"")
            }
            if selfClosing {
                write("/>")
                if open.isEmpty { rootClosed = true }
            } else {
                write(">")
                open.append(name)
                if name == "style" { style = [] }
            }
        }

        mutating func endTag() throws(Failure) {
            index += 2
            let name = try self.name()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else { throw Failure("an end tag is not closed") }
            index += 1
            if skipping > 0 {
                skipping -= 1
                return
            }
            guard let last = open.popLast(), last == name else { throw Failure("</\(name)> closes nothing open") }
            if name == "style", let css = style {
                output += escaped(SVGSanitizer.safeCSS(css), quote: false)
                style = nil
            }
            write("</\(name)>")
            if open.isEmpty { rootClosed = true }
        }

        /// Text between tags: kept inside kept elements, dropped elsewhere.
        mutating func text(_ content: [UInt8], raw: Bool) {
            guard skipping == 0, !open.isEmpty else { return }
            let decoded = raw ? content : SVGSanitizer.decodeEntities(content)
            if style != nil {
                style? += decoded
            } else {
                output += escaped(decoded, quote: false)
            }
        }

        /// `<!DOCTYPE …>`, its internal subset (entity declarations) included: dropped whole.
        mutating func skipDeclaration() throws(Failure) {
            var brackets = 0
            var quote: UInt8?
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                if let open = quote {
                    if byte == open { quote = nil }
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    quote = byte
                } else if byte == UInt8(ascii: "[") {
                    brackets += 1
                } else if byte == UInt8(ascii: "]") {
                    brackets -= 1
                } else if byte == UInt8(ascii: ">"), brackets <= 0 {
                    return
                }
            }
            throw Failure("a declaration is not closed")
        }

        // MARK: Lexing

        /// Called several times per token: compares in place, without making an array of the literal.
        func matches(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - index >= count else { return false }
            return literal.withUTF8Buffer { bytes[index..<index + count].elementsEqual($0) }
        }

        mutating func skip(past literal: StaticString) throws(Failure) {
            let first = literal.withUTF8Buffer { $0[0] }
            while index < bytes.count {
                if bytes[index] == first, matches(literal) {
                    index += literal.utf8CodeUnitCount
                    return
                }
                index += 1
            }
            throw Failure("\(literal) is missing")
        }

        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        /// An XML name: letters, digits and `_ : . -`, or any non-ASCII byte.
        mutating func name() throws(Failure) -> String {
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                let isName = byte >= 0x80 || (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".")
                    || byte == UInt8(ascii: "-")
                guard isName else { break }
                index += 1
            }
            guard index > start else { throw Failure("a name is missing") }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        /// A quoted attribute value, entities decoded.
        mutating func quotedValue() throws(Failure) -> String {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "'") else {
                throw Failure("an attribute value is not quoted")
            }
            let quote = bytes[index]
            index += 1
            let start = index
            while index < bytes.count, bytes[index] != quote {
                guard bytes[index] != UInt8(ascii: "<") else { throw Failure("< in an attribute value") }
                index += 1
            }
            guard index < bytes.count else { throw Failure("an attribute value is not closed") }
            let value = SVGSanitizer.decodeEntities(Array(bytes[start..<index]))
            index += 1
            return String(decoding: value, as: UTF8.self)
        }

        mutating func write(_ text: String) { output += Array(text.utf8) }

        func escaped(_ text: [UInt8], quote: Bool) -> [UInt8] {
            var result: [UInt8] = []
            result.reserveCapacity(text.count)
            for byte in text {
                switch byte {
                case UInt8(ascii: "&"): result += Array("&amp;".utf8)
                case UInt8(ascii: "<"): result += Array("&lt;".utf8)
                case UInt8(ascii: ">"): result += Array("&gt;".utf8)
                case UInt8(ascii: "\"") where quote: result += Array("&quot;".utf8)
                default: result.append(byte)
                }
            }
            return result
        }
    }

    // MARK: Rules

    /// Whether an attribute survives: no event handlers, no prefixed attributes but a few, links
    /// only within the document, no script or data URLs, no `url()` leaving the document, no CSS
    /// escapes (they could spell any of these).
    static func keeps(_ name: String, _ value: String) -> Bool {
        let lowered = name.lowercased()
        if lowered.hasPrefix("on") { return false }
        if name.contains(":"), !prefixedAttributes.contains(name), !name.hasPrefix("xmlns:") { return false }
        let compact = String(value.lowercased().unicodeScalars.filter { $0.value > 0x20 })
        if lowered == "href" || lowered == "xlink:href" { return compact.hasPrefix("#") }
        if name.hasPrefix("xmlns") { return true }
        for scheme in ["javascript:", "vbscript:", "data:"] where compact.contains(scheme) { return false }
        if compact.contains("\\") { return false }
        return referencesStayInside(compact)
    }

    /// Every `url(` in `text` (lowercased, whitespace removed) names a fragment of this document.
    static func referencesStayInside(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        let opener = Array("url(".utf8)
        var index = 0
        while index + opener.count <= bytes.count {
            guard bytes[index..<index + opener.count].elementsEqual(opener) else {
                index += 1
                continue
            }
            index += opener.count
            while index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "'") { index += 1 }
            guard index < bytes.count, bytes[index] == UInt8(ascii: "#") else { return false }
        }
        return true
    }

    /// The text of a `style` element, or nothing when it could load anything (`@import`, a
    /// `url()` leaving the document) or hide what it does (CSS escapes).
    static func safeCSS(_ css: [UInt8]) -> [UInt8] {
        let text = String(String(decoding: css, as: UTF8.self).lowercased().unicodeScalars.filter { $0.value > 0x20 })
        if text.contains("@import") || text.contains("\\") || text.contains("javascript:") || !referencesStayInside(text) {
            return []
        }
        return css
    }

    /// XML's five entities and character references decoded; any other reference (it would need
    /// a DTD, and DTDs are dropped) removed; a bare `&` kept as itself.
    static func decodeEntities(_ text: [UInt8]) -> [UInt8] {
        guard text.contains(UInt8(ascii: "&")) else { return text }
        var result: [UInt8] = []
        var index = 0
        while index < text.count {
            guard text[index] == UInt8(ascii: "&"),
                  let end = text[index...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else {
                result.append(text[index])
                index += 1
                continue
            }
            let reference = String(decoding: text[(index + 1)..<end], as: UTF8.self)
            // `AT&T; …` is text, not a reference: only names and `#` numbers are.
            guard !reference.isEmpty, reference.utf8.allSatisfy({ $0 == UInt8(ascii: "#") || $0 < 0x80 && (Character(Unicode.Scalar($0)).isLetter || Character(Unicode.Scalar($0)).isNumber) }) else {
                result.append(text[index])
                index += 1
                continue
            }
            index = end + 1
            switch reference {
            case "lt": result.append(UInt8(ascii: "<"))
            case "gt": result.append(UInt8(ascii: ">"))
            case "amp": result.append(UInt8(ascii: "&"))
            case "quot": result.append(UInt8(ascii: "\""))
            case "apos": result.append(UInt8(ascii: "'"))
            default:
                var number: UInt32?
                if reference.hasPrefix("#x") || reference.hasPrefix("#X") {
                    number = UInt32(reference.dropFirst(2), radix: 16)
                } else if reference.hasPrefix("#") {
                    number = UInt32(reference.dropFirst(), radix: 10)
                }
                if let number, number != 0, let scalar = Unicode.Scalar(number) {
                    result += Array(String(Character(scalar)).utf8)
                }
            }
        }
        return result
    }
}
