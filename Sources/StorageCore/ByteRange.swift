/// A single-range `Range: bytes=…` request (contract §8), before it is resolved against an object's size.
public enum ByteRangeRequest: Sendable, Equatable {
    /// `bytes=first-` or `bytes=first-last`.
    case from(first: Int64, last: Int64?)
    /// `bytes=-count`: the last `count` bytes.
    case suffix(count: Int64)

    /// The outcome of applying a range to an object of known size.
    public enum Resolution: Sendable, Equatable {
        /// Serve these bytes with 206.
        case partial(ClosedRange<Int64>)
        /// Answer 416.
        case unsatisfiable
    }

    /// Parses a `Range` header value. Returns `nil` for anything that is not one well-formed byte
    /// range (other units, several ranges, garbage): such headers are ignored and the whole object
    /// is served, as RFC 9110 allows.
    public init?(header: String) {
        let value = header.trimmingSpaces()
        guard value.count > 6, value.prefix(6).lowercased() == "bytes=" else { return nil }
        let spec = value.dropFirst(6).trimmingSpaces()
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let firstText = spec[..<dash].trimmingSpaces()
        let lastText = spec[spec.index(after: dash)...].trimmingSpaces()
        if firstText.isEmpty {
            guard let count = Self.parseNumber(lastText) else { return nil }
            self = .suffix(count: count)
            return
        }
        guard let first = Self.parseNumber(firstText) else { return nil }
        if lastText.isEmpty {
            self = .from(first: first, last: nil)
            return
        }
        guard let last = Self.parseNumber(lastText), last >= first else { return nil }
        self = .from(first: first, last: last)
    }

    /// Resolves the request against an object of `size` bytes.
    public func resolve(size: Int64) -> Resolution {
        switch self {
        case .from(let first, let last):
            guard first < size else { return .unsatisfiable }
            let end = min(last ?? (size - 1), size - 1)
            return .partial(first...end)
        case .suffix(let count):
            guard count > 0, size > 0 else { return .unsatisfiable }
            return .partial(max(0, size - count)...(size - 1))
        }
    }

    private static func parseNumber(_ text: Substring) -> Int64? {
        guard !text.isEmpty, text.utf8.count <= 18,
            text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return Int64(text)
    }
}

extension StringProtocol {
    func trimmingSpaces() -> Substring {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return Substring(slice)
    }
}
