#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Custom object metadata (`user_metadata`) as clients send it: JSON text in the `metadata` form
/// field or TUS metadata, base64 JSON in `x-metadata` (docs/contract.md §5.1, "Hardening").
///
/// It must be a JSON object of at most 64 KiB once serialized. Anything else is refused with a
/// 4xx and nothing is stored: upstream spreads a string into one key per character, so 1 MiB of
/// text became 14 MB of jsonb.
public enum UserMetadata {
    /// Largest serialized object kept.
    public static let maximumBytes = 64 << 10
    /// Largest text parsed at all (the object's serialization is checked after parsing).
    static let maximumTextBytes = 1 << 20

    public static let tooLarge = StorageError.entityTooLarge("The user_metadata exceeded the maximum allowed size")
    public static let notAnObject = StorageError.invalidRequest("The metadata must be a JSON object")

    /// Parses JSON text into an object, or throws.
    public static func parse(json text: String) throws(StorageError) -> JSONValue {
        guard text.utf8.count <= maximumTextBytes else { throw tooLarge }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)), value.isObject else {
            throw notAnObject
        }
        guard let serialized = try? JSONEncoder().encode(value), serialized.count <= maximumBytes else { throw tooLarge }
        return value
    }

    /// Parses base64 of JSON text (`x-metadata`), or throws.
    public static func parse(base64 text: String) throws(StorageError) -> JSONValue {
        // Base64 grows text by a third: anything longer cannot decode to an acceptable document.
        guard text.utf8.count <= maximumTextBytes / 3 * 4 + 4 else { throw tooLarge }
        guard let data = Data(base64Encoded: text) else {
            throw StorageError.invalidRequest("The x-metadata header must be base64 of a JSON object")
        }
        return try parse(json: String(decoding: data, as: UTF8.self))
    }
}
