/// A JSON document as Postgres printed it (the text of a `jsonb` column), kept as bytes. A
/// listing page writes a thousand `metadata` documents straight back out: building each as a
/// `JSONValue` (a dictionary) and sorting its keys again cost a fifth of the page's CPU time.
/// Its keys keep jsonb's order (shorter keys first), which is also the order upstream returns.
public struct StoredJSON: Sendable, Equatable {
    /// UTF-8 JSON text, valid because Postgres parsed it on the way in.
    public let text: [UInt8]

    public init(text: [UInt8]) { self.text = text }

    /// The document parsed, or nil if the text is not JSON (for readers of single fields).
    public var value: JSONValue? { text.withUnsafeBytes { try? JSONValue(parsing: $0) } }
}
