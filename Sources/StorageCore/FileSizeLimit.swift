/// Parsing of bucket `file_size_limit` values (contract §6.3).
public enum FileSizeLimit {
    static let formatHint = "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B"

    /// Parses a human size such as `"20mb"` or `"1.5GB"` into bytes.
    ///
    /// Units are decimal (KB = 1000). As upstream, the number is first rounded to three
    /// significant digits, so `"1.2345MB"` is 1 230 000 bytes. A bare digit string is read as bytes.
    public static func parse(_ text: String) throws(StorageError) -> Int64 {
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            guard let bytes = Int64(text) else { throw .invalidRequest(formatHint) }
            return bytes
        }
        let upper = text.uppercased()
        let units: [(suffix: String, multiplier: Double)] = [
            ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000), ("B", 1),
        ]
        guard let unit = units.first(where: { upper.hasSuffix($0.suffix) }) else {
            throw .invalidRequest(formatHint)
        }
        let number = upper.dropLast(unit.suffix.count)
        guard isDecimal(number), let value = Double(number) else { throw .invalidRequest(formatHint) }
        let bytes = (roundedToThreeSignificantDigits(value) * unit.multiplier).rounded()
        guard bytes < 9.2e18 else { throw .invalidRequest(formatHint) }
        return Int64(bytes)
    }

    /// `digits` or `digits.digits`, nothing else (no sign, exponent or spaces).
    private static func isDecimal(_ text: Substring) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return false }
        return parts.allSatisfy { part in
            !part.isEmpty && part.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        }
    }

    static func roundedToThreeSignificantDigits(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return 0 }
        // Scale into [100, 1000), round there, scale back: three significant digits.
        var scale = 1.0
        while value * scale >= 1000 { scale /= 10 }
        while value * scale < 100 { scale *= 10 }
        return (value * scale).rounded() / scale
    }
}
