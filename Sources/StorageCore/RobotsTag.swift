import Foundation

/// Validation of the `x-robots-tag` upload header (contract §5.1), stored and echoed on downloads.
///
/// A value is a comma-separated list of rules: simple ones (`noindex`, `none`, …), parametric ones
/// (`max-snippet: 20`, `max-image-preview: large`, `unavailable_after: <date>`, whose date may itself
/// contain commas), optionally scoped to a crawler (`googlebot: noindex, nofollow`).
public enum RobotsTag {
    static let simpleRules: Set<String> = [
        "all", "noindex", "nofollow", "none", "nosnippet", "indexifembedded", "notranslate", "noimageindex",
    ]
    static let parametricRules: Set<String> = ["max-snippet", "max-image-preview", "max-video-preview", "unavailable_after"]

    /// Throws `invalid_x_robots_tag` unless `value` is a valid header value.
    public static func validate(_ value: String) throws(StorageError) {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw invalid("X-Robots-Tag header value must be a non-empty string") }
        for rule in rules(in: trimmed) {
            try validate(rule: rule)
        }
    }

    /// Whether `value` is valid (downloads fall back to `none` otherwise).
    public static func isValid(_ value: String) -> Bool {
        (try? validate(value)) != nil
    }

    static func invalid(_ reason: String) -> StorageError { .invalidRobotsTag(reason) }

    /// Splits on commas, keeping `unavailable_after` dates (which may contain commas) whole.
    static func rules(in value: String) -> [String] {
        var rules: [String] = []
        var collectingDate = false
        for piece in value.split(separator: ",", omittingEmptySubsequences: false) {
            let part = piece.trimmingCharacters(in: .whitespaces)
            if collectingDate, !startsRule(part), let last = rules.popLast() {
                rules.append(last + ", " + part)
                continue
            }
            rules.append(part)
            collectingDate = ruleName(of: part) == "unavailable_after"
        }
        return rules
    }

    /// `name` of `name: value`, lower-cased, when the part has that shape.
    private static func ruleName(of part: String) -> String? {
        guard let colon = part.firstIndex(of: ":") else { return nil }
        return part[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
    }

    private static func startsRule(_ part: String) -> Bool {
        if simpleRules.contains(part) { return true }
        guard let name = ruleName(of: part), !name.isEmpty else { return false }
        return name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" }
    }

    private static func validate(rule: String) throws(StorageError) {
        guard !rule.isEmpty else { throw invalid("X-Robots-Tag header contains empty rule") }
        if simpleRules.contains(rule) { return }
        guard let colon = rule.firstIndex(of: ":") else { throw invalid("Invalid X-Robots-Tag rule: \"\(rule)\"") }
        let name = rule[..<colon].trimmingCharacters(in: .whitespaces)
        let value = rule[rule.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        if parametricRules.contains(name) {
            try validate(parameter: name, value: value)
            return
        }
        // A crawler-scoped list: `googlebot: noindex, nofollow`.
        guard !value.isEmpty else { throw invalid("X-Robots-Tag user agent \"\(name)\" has no rules specified") }
        try validate(value)
    }

    private static func validate(parameter name: String, value: String) throws(StorageError) {
        guard !value.isEmpty else { throw invalid("X-Robots-Tag rule \"\(name)\" requires a value") }
        switch name {
        case "max-snippet", "max-video-preview":
            guard let number = Int(value), number >= -1 else {
                throw invalid("X-Robots-Tag \"\(name)\" value must be an integer >= -1, got: \"\(value)\"")
            }
        case "max-image-preview":
            guard ["none", "standard", "large"].contains(value) else {
                throw invalid("X-Robots-Tag \"max-image-preview\" value must be one of: none, standard, large, got: \"\(value)\"")
            }
        default:
            guard parseDate(value) != nil else {
                throw invalid("X-Robots-Tag \"unavailable_after\" value must be a valid date, got: \"\(value)\"")
            }
        }
    }

    /// ISO 8601 or the common HTTP/mail date forms robots rules use.
    static func parseDate(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle().year().month().day()) { return date }
        let formats = [
            "EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "dd MMM yyyy HH:mm:ss zzz",
            "EEE, dd MMM yyyy HH:mm:ss Z", "dd MMM yyyy",
        ]
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        for format in formats {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}
