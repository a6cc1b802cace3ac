import NIOCore
import Testing

@testable import StorageAPI

struct PartDelimiterTests {
    let delimiter = PartDelimiter(boundary: "XyZ")

    func certain(_ text: String) -> Int {
        delimiter.certainBodyLength(of: ByteBuffer(string: text))
    }

    @Test func bodyRunsUpToWhereADelimiterMayStart() {
        #expect(certain("") == 0)
        #expect(certain("plain bytes") == 11)
        #expect(certain("a\rb\r\nc\r\n-d\r\n--XyQ") == 17)
        #expect(certain("abc\r\n--XyZ\r\nmore") == 3)
        #expect(certain("\r\n--XyZ--") == 0)
        // Cut off by the end of the buffer: the parser must see it.
        #expect(certain("abc\r") == 3)
        #expect(certain("abc\r\n--X") == 3)
        #expect(certain("abc\r\n--Xy") == 3)
        // A false start, then the real one.
        #expect(certain("ab\r\n--Xq\r\r\n--XyZ") == 9)
    }

    @Test func aStreamMayEndInsideADelimiter() {
        func inside(_ text: String) -> Bool { delimiter.mayEndInside(Array(text.utf8)) }
        #expect(inside("body\r"))
        #expect(inside("body\r\n-"))
        #expect(inside("\r\n--XyZ"))
        #expect(inside("\r"))
        #expect(!inside("body"))
        #expect(!inside(""))
        #expect(!inside("\r\n--XyQ"))
        #expect(!inside("\r\nxy"))
    }

    /// Against the obvious byte-by-byte definition, on every body of up to four near-delimiters.
    @Test func agreesWithTheNaiveDefinition() {
        let pieces: [[UInt8]] = ["\r", "\r\n", "\r\n--", "\r\n--Xy", "\r\n--XyZ", "a", "-", "Z"].map { Array($0.utf8) }
        let bytes = delimiter.bytes
        var bodies: [[UInt8]] = [[]]
        var layer: [[UInt8]] = [[]]
        for _ in 0..<4 {
            layer = layer.flatMap { body in pieces.map { body + $0 } }
            bodies += layer
        }
        for body in bodies {
            let naive = body.indices.first { index in
                let end = Swift.min(body.count, index + bytes.count)
                return Array(body[index..<end]) == Array(bytes.prefix(end - index))
            } ?? body.count
            #expect(delimiter.certainBodyLength(of: ByteBuffer(bytes: body)) == naive, "\(body)")
            let tail = Array(body.suffix(bytes.count))
            let naiveInside = tail.indices.contains { Array(tail[$0...]) == Array(bytes.prefix(tail.count - $0)) }
            #expect(delimiter.mayEndInside(tail) == naiveInside, "\(tail)")
        }
    }
}
