/// Bucket-name rules (contract §6.1).
public enum BucketName {
    /// The longest bucket name the schema accepts (the `enforce_bucket_name_length` trigger).
    public static let maximumLength = 100

    /// Whether `name` uses only the permitted characters and is 1–100 characters long.
    /// Every object route checks its `:bucket` with this rule.
    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumLength else { return false }
        return bytes.allSatisfy(isAllowed)
    }

    /// The stricter rule for creation: also no leading or trailing whitespace.
    public static func isValidForCreation(_ name: String) -> Bool {
        guard isValid(name) else { return false }
        return name.first != " " && name.last != " "
    }

    /// Throws `InvalidBucketName` unless `name` is valid.
    public static func validate(_ name: String) throws(StorageError) {
        guard isValid(name) else { throw .invalidBucketName }
    }

    static func isAllowed(_ byte: UInt8) -> Bool {
        ObjectKey.isWordCharacter(byte) || bucketPunctuation.contains(byte)
    }

    private static let bucketPunctuation = Set("!-.*'() &$@=;:+,?".utf8)
}

/// Object-key rules (contract §6.2).
public enum ObjectKey {
    /// Name suffix of the zero-byte objects clients create to show empty folders.
    public static let emptyFolderPlaceholder = ".emptyFolderPlaceholder"

    /// Whether `key` is non-empty and uses only the permitted characters (ASCII letters, digits and
    /// `_ / ! . * ' ( ) space & $ = @ ; : + , ? -`).
    public static func isValid(_ key: String) -> Bool {
        let bytes = key.utf8
        guard !bytes.isEmpty else { return false }
        return bytes.allSatisfy { isWordCharacter($0) || keyPunctuation.contains($0) }
    }

    /// Throws `InvalidKey` unless `key` is valid.
    public static func validate(_ key: String) throws(StorageError) {
        guard isValid(key) else { throw .invalidKey(key) }
    }

    /// Whether the key names a folder placeholder (size 0, exempt from mime checks).
    public static func isFolderPlaceholder(_ key: String) -> Bool {
        key.hasSuffix(emptyFolderPlaceholder)
    }

    static func isWordCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }

    private static let keyPunctuation = Set("/!-.*'() &$@=;:+,?".utf8)
}
