import Foundation
public import Logging
import WireFormats

/// Writes one JSON object per line to standard error: `time`, `level`, `label`, `msg`, then the
/// metadata. Callers never put tokens or secrets in metadata.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "{\"time\":\(Self.quote(Self.timestamp()))"
        line += ",\"level\":\(Self.quote(event.level.rawValue))"
        line += ",\"label\":\(Self.quote(label))"
        line += ",\"msg\":\(Self.quote(event.message.description))"
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for key in merged.keys.sorted() {
            line += ",\(Self.quote(key)):\(Self.render(merged[key]!))"
        }
        line += "}\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    private static func render(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): return quote(text)
        case .stringConvertible(let value): return quote(value.description)
        case .array(let values): return "[" + values.map(render).joined(separator: ",") + "]"
        case .dictionary(let values):
            return "{" + values.keys.sorted().map { "\(quote($0)):\(render(values[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ text: String) -> String { JSONString.quoted(text) }

    private static func timestamp() -> String {
        Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
