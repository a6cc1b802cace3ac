/// Media types as this server accepts them (docs/contract.md §6.4, "Hardening"): `type/subtype`,
/// each an RFC 9110 token, optionally followed by `;` parameters. Anything else is
/// InvalidMimeType, whether it is declared by an upload or listed on a bucket.
public enum MediaType {
    /// Longest accepted value (a bucket entry or a declared type).
    public static let maximumLength = 1000

    /// Whether `value` is `type/subtype[; parameters]`.
    ///
    /// Parameters are not parsed further, but may hold only visible ASCII, spaces and tabs: the
    /// value is sent back as a `Content-Type` header.
    public static func isValid(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumLength else { return false }
        var index = 0
        func token() -> Bool {
            let start = index
            while index < bytes.count, isTokenByte(bytes[index]) { index += 1 }
            return index > start
        }
        guard token(), index < bytes.count, bytes[index] == UInt8(ascii: "/") else { return false }
        index += 1
        guard token() else { return false }
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 }
        guard index < bytes.count else { return true }
        guard bytes[index] == UInt8(ascii: ";") else { return false }
        return bytes[(index + 1)...].allSatisfy { $0 == 9 || (0x20...0x7E).contains($0) }
    }

    /// Throws InvalidMimeType unless `value` is a well-formed media type.
    public static func validate(_ value: String) throws(StorageError) {
        guard isValid(value) else { throw .invalidMimeType(value) }
    }

    /// RFC 9110 `tchar`.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return tokenPunctuation.contains(byte)
        }
    }

    private static let tokenPunctuation = Set("!#$%&'*+-.^_`|~".utf8)
}

/// Bucket `allowed_mime_types` rules (docs/contract.md §6.4).
public enum AllowedMimeTypes {
    /// Checks the entries a client wants to store on a bucket: each is a media type
    /// (`image/png`, `text/*`, `text/plain;charset=utf-8`).
    public static func validate(_ entries: [String]) throws(StorageError) {
        for entry in entries where !MediaType.isValid(entry) {
            throw .invalidMimeType(entry)
        }
    }

    /// Whether an upload of `mimeType` may go into a bucket allowing `allowed`.
    ///
    /// An empty or absent list allows everything. Otherwise `mimeType` must be a well-formed
    /// media type whose type part equals an entry's and whose subtype is the entry's or the entry
    /// has `*`. As upstream, the comparison is case-sensitive and includes parameters (so
    /// `text/plain;charset=UTF-8` does not match `text/plain`, and `*/*` matches nothing).
    public static func allows(_ mimeType: String, in allowed: [String]?) -> Bool {
        guard let allowed, !allowed.isEmpty else { return true }
        guard MediaType.isValid(mimeType) else { return false }
        let (type, subtype) = split(mimeType)
        return allowed.contains { entry in
            let (allowedType, allowedSubtype) = split(entry)
            return allowedType == type && (allowedSubtype == "*" || allowedSubtype == subtype)
        }
    }

    /// Throws `InvalidMimeType` unless `mimeType` is allowed.
    public static func check(_ mimeType: String, in allowed: [String]?) throws(StorageError) {
        guard allows(mimeType, in: allowed) else { throw .invalidMimeType(mimeType) }
    }

    /// The parts before and after the `/` (a valid media type has exactly one).
    private static func split(_ value: String) -> (Substring, Substring) {
        let parts = value.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        return (parts[0], parts.count > 1 ? parts[1] : "")
    }
}

/// The two values an object keeps as response headers (`Content-Type`, `Cache-Control`) and a
/// backend stores as headers too: checked once, before anything is stored, on every write route.
public enum StoredHeaders {
    /// Throws InvalidMimeType for a content type that is not a media type, and InvalidRequest
    /// for a cache control that is not a header field value (control characters, over 1000 bytes)
    /// or whose age directives are not whole seconds (`max-age=max-age=1`, which a form field of
    /// `max-age=1` becomes): passed on, S3 backends refuse either (SeaweedFS parses `max-age` and
    /// answers InvalidDigest) and the client would see a backend failure, in one mode and not another.
    public static func validate(contentType: String?, cacheControl: String?) throws(StorageError) {
        if let contentType { try MediaType.validate(contentType) }
        if let cacheControl {
            guard isFieldValue(cacheControl) else {
                throw .invalidRequest("The cacheControl value is not a valid header value")
            }
            guard hasWholeSecondAges(cacheControl) else {
                throw .invalidRequest("The cacheControl max-age must be a whole number of seconds")
            }
        }
    }

    /// RFC 9110 field-value: visible ASCII, space and tab (obs-text is refused: backends differ on it).
    static func isFieldValue(_ value: String) -> Bool {
        value.utf8.count <= MediaType.maximumLength
            && value.utf8.allSatisfy { $0 == 0x09 || (0x20...0x7E).contains($0) }
    }

    /// The RFC 9111 directives whose argument is delta-seconds (`1*DIGIT`); others are free text.
    private static let ageDirectives: Set<String> = [
        "max-age", "s-maxage", "min-fresh", "max-stale", "stale-while-revalidate", "stale-if-error",
    ]

    /// True unless an age directive carries an argument that is not digits (a bare `max-stale` is fine).
    static func hasWholeSecondAges(_ value: String) -> Bool {
        value.split(separator: ",").allSatisfy { directive in
            let parts = directive.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
            guard parts.count == 2, ageDirectives.contains(name) else { return true }
            let argument = parts[1].trimmingCharacters(in: .whitespaces)
            return !argument.isEmpty && argument.utf8.allSatisfy { (0x30...0x39).contains($0) }
        }
    }
}
