import Foundation
import NIOCore

/// The delimiter before each part of a multipart body (`\r\n--<boundary>`), and where it can
/// start in a run of body bytes. A boundary holds no CR (it comes from a header), so a delimiter
/// can only start at a CR: searches jump from one CR to the next.
struct PartDelimiter: Sendable {
    let bytes: [UInt8]

    init(boundary: String) {
        bytes = Array("\r\n--\(boundary)".utf8)
    }

    /// How many leading bytes of `buffer` are body for certain: those before the first place a
    /// delimiter starts, whole or cut off by the end of the buffer.
    func certainBodyLength(of buffer: ByteBuffer) -> Int {
        buffer.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress else { return 0 }
            var start = 0
            while start < raw.count {
                guard let found = memchr(base + start, 13, raw.count - start) else { return raw.count }
                let index = base.distance(to: UnsafeRawPointer(found))
                if matches(raw, from: index) { return index }
                start = index + 1
            }
            return raw.count
        }
    }

    /// Whether a stream whose last bytes are `tail` (at least a delimiter's length of them, or
    /// the whole stream) may end partway through a delimiter, or right after a whole one.
    func mayEndInside(_ tail: [UInt8]) -> Bool {
        tail.withUnsafeBytes { raw in
            (Swift.max(0, raw.count - bytes.count)..<raw.count).contains { index in
                raw[index] == 13 && matches(raw, from: index)
            }
        }
    }

    /// Whether the bytes from `index` on are the delimiter, or its beginning up to the end.
    private func matches(_ raw: UnsafeRawBufferPointer, from index: Int) -> Bool {
        let length = Swift.min(bytes.count, raw.count - index)
        for offset in 0..<length where raw[index + offset] != bytes[offset] {
            return false
        }
        return true
    }
}
