/// Bucket `allowed_mime_types` rules (spec §6.4).
public enum AllowedMimeTypes {
    /// Longest accepted entry.
    public static let maximumEntryLength = 1000

    /// Checks the entries a client wants to store on a bucket: each is `type/subtype` (letters,
    /// digits, `+ . -`, optionally followed by `;parameters`) or anything ending in `*`.
    public static func validate(_ entries: [String]) throws(StorageError) {
        for entry in entries where !isValidEntry(entry) {
            throw .invalidMimeType(entry)
        }
    }

    static func isValidEntry(_ entry: String) -> Bool {
        guard !entry.isEmpty, entry.utf8.count <= maximumEntryLength else { return false }
        if entry.hasSuffix("*") { return true }
        let essence = entry.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
        let parts = essence.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        return parts.allSatisfy { part in !part.isEmpty && part.utf8.allSatisfy(isTokenByte) }
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// Whether an upload of `mimeType` may go into a bucket allowing `allowed`.
    ///
    /// An empty or absent list allows everything. Otherwise the type part must be equal and the
    /// subtype either `*` or identical; the comparison is case-sensitive and includes parameters,
    /// as upstream (so `text/plain;charset=UTF-8` does not match `text/plain`, and `*/*` matches nothing).
    public static func allows(_ mimeType: String, in allowed: [String]?) -> Bool {
        guard let allowed, !allowed.isEmpty else { return true }
        let (type, subtype) = split(mimeType)
        guard subtype != nil else { return false }
        return allowed.contains { entry in
            let (allowedType, allowedSubtype) = split(entry)
            return allowedType == type && (allowedSubtype == "*" || allowedSubtype == subtype)
        }
    }

    /// Throws `InvalidMimeType` unless `mimeType` is allowed.
    public static func check(_ mimeType: String, in allowed: [String]?) throws(StorageError) {
        guard allows(mimeType, in: allowed) else { throw .invalidMimeType(mimeType) }
    }

    /// Splits on the first two `/`-separated components, as JavaScript's `split('/')` destructuring does.
    private static func split(_ value: String) -> (Substring, Substring?) {
        let parts = value.split(separator: "/", omittingEmptySubsequences: false)
        return (parts[0], parts.count > 1 ? parts[1] : nil)
    }
}
