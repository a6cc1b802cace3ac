public import ObjectStore
/// Maps backend keys to paths under a root directory so that no key can escape it.
///
/// Keys are split on `/` and each segment becomes one path component. Segments a filesystem would
/// interpret (`""`, `.`, `..`) are spelled with a `%` escape; `%` itself is escaped too, so the
/// mapping is injective and ordinary keys keep the same layout as upstream's file backend.
/// Valid object keys never contain `%` (contract §6.2), so escaped components cannot collide with them.
public struct FilePathMapping: Sendable, Equatable {
    /// The directory every object lives under (absolute, no trailing slash).
    public let root: String

    /// Longest single path component ext4 and most filesystems accept.
    static let maximumComponentLength = 255

    public init(root: String) {
        var root = root
        while root.count > 1, root.hasSuffix("/") { root.removeLast() }
        self.root = root
    }

    /// The path of `key`, or a thrown `invalidKey` when it cannot be stored safely.
    public func path(for key: String) throws(ObjectStoreError) -> String {
        guard !key.isEmpty else { throw ObjectStoreError(.invalidKey, "empty key") }
        var path = root
        for segment in key.split(separator: "/", omittingEmptySubsequences: false) {
            path += "/"
            path += try Self.component(for: segment)
        }
        return path
    }

    /// The key segment a path component stands for (the inverse of `component(for:)`).
    static func segment(forComponent component: String) -> String {
        switch component {
        case "%": ""
        case "%2E": "."
        case "%2E%2E": ".."
        default: component.replacing("%25", with: "%")
        }
    }

    /// The path component for one key segment.
    static func component(for segment: Substring) throws(ObjectStoreError) -> String {
        if segment.utf8.contains(0) { throw ObjectStoreError(.invalidKey, "key contains NUL") }
        let component: String
        switch segment {
        case "": component = "%"
        case ".": component = "%2E"
        case "..": component = "%2E%2E"
        default: component = segment.replacingPercent()
        }
        guard component.utf8.count <= maximumComponentLength else {
            throw ObjectStoreError(.invalidKey, "a key segment is longer than \(maximumComponentLength) bytes")
        }
        return component
    }
}

extension Substring {
    fileprivate func replacingPercent() -> String {
        guard contains("%") else { return String(self) }
        var result = ""
        for character in self {
            if character == "%" { result += "%25" } else { result.append(character) }
        }
        return result
    }
}
