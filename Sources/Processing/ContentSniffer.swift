import StorageCore

/// The `sniff-mime` step's judgement, from an object's first bytes (docs/contract.md §12.3):
/// the content must be of the type the uploader declared and of a type the bucket allows.
/// Only what the bytes show for certain counts: content nothing here recognises keeps its
/// declared type.
public enum ContentSniffer {
    /// How many leading bytes the step reads.
    public static let prefixLength = 4096

    /// What the bytes are.
    public enum Content: Sendable, Equatable {
        /// A format with a signature, as its media type.
        case format(String)
        /// Text: UTF-8 without NULs or control bytes other than white space.
        case text
        /// HTML or an SVG/XML document: text a browser runs scripts in.
        case markup(String)
        /// Nothing recognised.
        case unknown
    }

    public static func content(of prefix: some Collection<UInt8>) -> Content {
        let bytes = Array(prefix.prefix(prefixLength))
        // An empty object shows nothing: it keeps its declared type.
        if bytes.isEmpty { return .unknown }
        func starts(_ signature: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + signature.count && Array(bytes[offset..<offset + signature.count]) == signature
        }
        func ascii(_ text: String, at offset: Int = 0) -> Bool { starts(Array(text.utf8), at: offset) }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .format("image/png") }
        if starts([0xFF, 0xD8, 0xFF]) { return .format("image/jpeg") }
        if ascii("GIF87a") || ascii("GIF89a") { return .format("image/gif") }
        if ascii("RIFF"), ascii("WEBP", at: 8) { return .format("image/webp") }
        if ascii("RIFF"), ascii("WAVE", at: 8) { return .format("audio/wav") }
        if ascii("RIFF"), ascii("AVI ", at: 8) { return .format("video/x-msvideo") }
        if ascii("ftyp", at: 4), bytes.count >= 12 {
            let brand = String(decoding: bytes[8..<12], as: UTF8.self)
            switch brand {
            case "avif", "avis": return .format("image/avif")
            case "heic", "heix", "mif1", "msf1": return .format("image/heic")
            case "qt  ": return .format("video/quicktime")
            case "M4A ": return .format("audio/mp4")
            default: return .format("video/mp4")
            }
        }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .format("image/tiff") }
        if ascii("BM"), bytes.count >= 14, bytes[6...9].allSatisfy({ $0 == 0 }) { return .format("image/bmp") }
        if starts([0x00, 0x00, 0x01, 0x00]) { return .format("image/x-icon") }
        if ascii("%PDF-") { return .format("application/pdf") }
        if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) { return .format("application/zip") }
        if starts([0x1F, 0x8B]) { return .format("application/gzip") }
        if ascii("7z"), starts([0xBC, 0xAF, 0x27, 0x1C], at: 2) { return .format("application/x-7z-compressed") }
        if ascii("OggS") { return .format("audio/ogg") }
        if ascii("fLaC") { return .format("audio/flac") }
        if ascii("ID3") || (bytes.count >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0) { return .format("audio/mpeg") }
        if starts([0x1A, 0x45, 0xDF, 0xA3]) { return .format("video/webm") }
        if starts([0x7F]) && ascii("ELF", at: 1) { return .format("application/x-executable") }
        if ascii("MZ") { return .format("application/x-msdownload") }
        if starts([0xCF, 0xFA, 0xED, 0xFE]) || starts([0xCE, 0xFA, 0xED, 0xFE]) || starts([0xCA, 0xFE, 0xBA, 0xBE]) {
            return .format("application/x-mach-binary")
        }
        guard isText(bytes) else { return .unknown }
        let head = String(decoding: bytes.prefix(1024), as: UTF8.self).lowercased()
        let trimmed = head.drop { $0.isWhitespace || $0 == "\u{FEFF}" }
        if trimmed.hasPrefix("<!doctype html") || trimmed.hasPrefix("<html") || head.contains("<script")
            || head.contains("<body") || head.contains("<iframe")
        {
            return .markup("text/html")
        }
        if head.contains("<svg") { return .markup("image/svg+xml") }
        if trimmed.hasPrefix("<?xml") { return .markup("application/xml") }
        return .text
    }

    /// Passes (with a detail for the status resource) or throws the reason to reject.
    public static func judge(
        declared: String, content: Content, allowed: [String]?
    ) -> PipelineMachine.StepOutcome {
        let declaredType = baseType(declared)
        switch content {
        case .unknown:
            return .passed(detail: "content not recognised; declared \(declaredType) kept")
        case .text:
            guard declaredType.hasPrefix("text/") || textual.contains(declaredType) || declaredType == genericBinary else {
                return .rejected(reason: "the content is text, not \(declaredType)")
            }
            return .passed(detail: "text")
        case .markup(let type):
            // HTML or SVG declared as anything else is how scripts get served from a storage domain.
            guard declaredType == type || (type == "application/xml" && ["text/xml", "application/xml"].contains(declaredType))
                || (type == "text/html" && declaredType == "application/xhtml+xml")
            else {
                return .rejected(reason: "the content is \(type), not \(declaredType)")
            }
            return allowedCheck(type, declared: declared, allowed: allowed)
        case .format(let type):
            guard declaredType == genericBinary || compatible(declared: declaredType, detected: type) else {
                return .rejected(reason: "the content is \(type), not \(declaredType)")
            }
            return allowedCheck(type, declared: declared, allowed: allowed)
        }
    }

    private static func allowedCheck(_ detected: String, declared: String, allowed: [String]?) -> PipelineMachine.StepOutcome {
        // The declared type passed the bucket's rule at upload; an octet-stream upload of a
        // format the bucket does not allow is caught here.
        if baseType(declared) == genericBinary, !AllowedMimeTypes.allows(detected, in: allowed) {
            return .rejected(reason: "the content is \(detected), which the bucket does not allow")
        }
        return .passed(detail: detected)
    }

    static let genericBinary = "application/octet-stream"

    /// Declared types whose content is text although they are not `text/*`.
    static let textual: Set<String> = [
        "application/json", "application/xml", "application/javascript", "application/x-ndjson", "application/yaml",
        "application/x-yaml", "application/sql", "application/csv", "application/ld+json", "application/geo+json",
        "application/toml", "image/svg+xml",
    ]

    /// Formats that are containers of another: a `.docx` is a zip, an `.m4v` an MP4.
    static func compatible(declared: String, detected: String) -> Bool {
        if declared == detected { return true }
        switch detected {
        case "image/jpeg": return declared == "image/jpg" || declared == "image/pjpeg"
        case "image/x-icon": return declared == "image/vnd.microsoft.icon"
        case "audio/wav": return ["audio/wave", "audio/x-wav", "audio/vnd.wave"].contains(declared)
        case "application/zip":
            return declared.hasPrefix("application/vnd.openxmlformats-officedocument.")
                || declared.hasPrefix("application/vnd.oasis.opendocument.")
                || ["application/x-zip-compressed", "application/epub+zip", "application/java-archive",
                    "application/vnd.android.package-archive"].contains(declared)
        case "application/gzip": return ["application/x-gzip", "application/x-tar+gzip"].contains(declared)
        case "video/mp4", "audio/mp4": return declared.hasPrefix("video/") || declared.hasPrefix("audio/")
        case "image/heic": return declared == "image/heif"
        case "audio/ogg": return declared == "video/ogg" || declared == "application/ogg"
        case "video/webm": return declared == "audio/webm" || declared == "video/x-matroska"
        case "audio/mpeg": return declared == "audio/mp3"
        default: return false
        }
    }

    /// `text/plain;charset=utf-8` → `text/plain`.
    static func baseType(_ mimeType: String) -> String {
        String(mimeType.prefix { $0 != ";" }).trimmingSpaces().lowercased()
    }

    /// UTF-8 (a sequence cut at the end of the prefix allowed) without NULs or control bytes
    /// other than tab, newline, carriage return and form feed.
    static func isText(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return true }
        if bytes.contains(where: { $0 < 0x20 && ![0x09, 0x0A, 0x0C, 0x0D].contains($0) || $0 == 0x7F }) { return false }
        var end = bytes.count
        // Up to three bytes of a character the prefix cut in two.
        var back = 0
        while back < 3, end > 0, bytes[end - 1] & 0xC0 == 0x80 {
            end -= 1
            back += 1
        }
        if end > 0, bytes[end - 1] >= 0xC0 { end -= 1 } else if back > 0 { end = bytes.count }
        return String(validating: bytes[..<end], as: UTF8.self) != nil
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
