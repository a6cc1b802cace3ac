import Foundation
import NIOCore
import S3
import Testing

@testable import S3Protocol

/// The decoder on the Amazon S3 documentation's signed `aws-chunked` example (66560 `a`s as
/// 64 KiB + 1 KiB + the final chunk), fed in every split, and on broken and hostile bodies.
@Suite struct AWSChunkedDecoderTests {
    static let signatures = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]

    static var signing: ChunkSigning {
        let signer = SigV4Signer(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
        let date = Date(timeIntervalSince1970: 1_369_353_600)
        return ChunkSigning(
            seedSignature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            scope: signer.scope(date: date), timestamp: "20130524T000000Z", key: signer.signingKey(date: date))
    }

    static func signedBody(signatures: [String] = signatures, sizes: [Int] = [65536, 1024, 0]) -> [UInt8] {
        var body: [UInt8] = []
        for (size, signature) in zip(sizes, signatures) {
            body += Array("\(String(size, radix: 16));chunk-signature=\(signature)\r\n".utf8)
            body += [UInt8](repeating: UInt8(ascii: "a"), count: size) + Array("\r\n".utf8)
        }
        return body
    }

    /// Feeds `body` in pieces of `piece` bytes; returns the decoded bytes and the decoder.
    func decode(
        _ body: [UInt8], piece: Int, signing: ChunkSigning?, declaredLength: Int64? = nil
    ) throws(AWSChunkedError) -> ([UInt8], AWSChunkedDecoder) {
        var decoder = AWSChunkedDecoder(signing: signing, declaredLength: declaredLength)
        var output: [UInt8] = []
        var offset = 0
        while offset < body.count {
            let end = min(body.count, offset + piece)
            for buffer in try decoder.feed(ByteBuffer(bytes: body[offset..<end])) { output += Array(buffer.readableBytesView) }
            offset = end
        }
        try decoder.finish()
        return (output, decoder)
    }

    @Test(arguments: [1, 2, 7, 100, 4096, 65536, 1 << 20])
    func theDocumentationExampleDecodesInAnySplit(piece: Int) throws {
        let body = Self.signedBody()
        #expect(body.count == 66824)  // the example's Content-Length
        let (output, decoder) = try decode(body, piece: piece, signing: Self.signing)
        #expect(output == [UInt8](repeating: UInt8(ascii: "a"), count: 66560))
        #expect(decoder.decodedLength == 66560)
    }

    @Test func aWrongOrMovedChunkSignatureFails() {
        var wrong = Self.signatures
        wrong[1] = String(wrong[1].reversed())
        #expect(throws: AWSChunkedError.self) { try decode(Self.signedBody(signatures: wrong), piece: 4096, signing: Self.signing) }
        do {
            _ = try decode(Self.signedBody(signatures: [Self.signatures[1], Self.signatures[0], Self.signatures[2]], sizes: [1024, 65536, 0]),
                           piece: 4096, signing: Self.signing)
            Issue.record("chunks in another order verified")
        } catch {
            #expect(error.s3Code == "SignatureDoesNotMatch")
        }
        // Altered data under the right signatures.
        var altered = Self.signedBody()
        altered[100] = UInt8(ascii: "b")
        #expect(throws: AWSChunkedError.self) { try decode(altered, piece: 4096, signing: Self.signing) }
    }

    @Test func aBodyCutShortOrWithoutItsFinalChunkFails() {
        let body = Self.signedBody()
        for cut in [10, 66000, body.count - 90] {
            #expect(throws: AWSChunkedError.self) { try decode(Array(body[..<cut]), piece: 4096, signing: Self.signing) }
        }
        // Dropping the final chunk leaves a body that never ends.
        #expect(throws: AWSChunkedError.self) {
            try decode(Self.signedBody(signatures: Array(Self.signatures[..<2]), sizes: [65536, 1024]), piece: 4096, signing: Self.signing)
        }
    }

    @Test func unsignedChunksWithTrailers() throws {
        let body = Array("5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n".utf8)
        for piece in [1, 3, body.count] {
            let (output, decoder) = try decode(body, piece: piece, signing: nil)
            #expect(String(decoding: output, as: UTF8.self) == "hello world")
            #expect(decoder.trailers.map(\.0) == ["x-amz-checksum-crc32"])
            #expect(decoder.trailers.first?.1 == "DUoRhQ==")
        }
    }

    @Test func hostileFramingIsRefusedWithoutGrowingMemory() {
        // A header line that never ends: refused once it passes the limit, not buffered on.
        var decoder = AWSChunkedDecoder(signing: nil)
        #expect(throws: AWSChunkedError.self) {
            for _ in 0..<100 { _ = try decoder.feed(ByteBuffer(repeating: UInt8(ascii: "1"), count: 1000)) }
        }
        for body in ["zz\r\nhello\r\n0\r\n\r\n", "5\r\nhello!!\r\n0\r\n\r\n", "5\nhello\r\n0\r\n\r\n", "-5\r\nhello\r\n0\r\n\r\n",
                     "0\r\n\r\nmore", "5;chunk-signature=00\r\nhello\r\n"] {
            #expect(throws: AWSChunkedError.self, "\(body)") { try decode(Array(body.utf8), piece: 64, signing: nil) }
        }
        // Signed bodies need a signature on every chunk.
        #expect(throws: AWSChunkedError.self) { try decode(Array("5\r\nhello\r\n0\r\n\r\n".utf8), piece: 64, signing: Self.signing) }
        let trailers = (0..<20).map { "x-amz-meta-\($0):v\r\n" }.joined()
        #expect(throws: AWSChunkedError.self) { try decode(Array("0\r\n\(trailers)\r\n".utf8), piece: 64, signing: nil) }
    }

    @Test func theDeclaredDecodedLengthBoundsTheBody() throws {
        let body = Self.signedBody()
        let (output, _) = try decode(body, piece: 4096, signing: Self.signing, declaredLength: 66560)
        #expect(output.count == 66560)
        // One byte less declared: refused at the chunk that passes it, before its bytes come out.
        var decoder = AWSChunkedDecoder(signing: Self.signing, declaredLength: 66559)
        var handedOn = 0
        do {
            for start in stride(from: 0, to: body.count, by: 4096) {
                for buffer in try decoder.feed(ByteBuffer(bytes: body[start..<min(body.count, start + 4096)])) {
                    handedOn += buffer.readableBytes
                }
            }
            Issue.record("a body longer than declared was accepted")
        } catch {
            #expect(error.s3Code == "InvalidRequest")
        }
        // Nothing of the second chunk came out (the feed that throws hands on nothing of its piece).
        #expect(handedOn <= 65536 && handedOn > 60000)
        // A huge chunk size is refused at once, not waited for.
        var huge = AWSChunkedDecoder(signing: nil, declaredLength: 10)
        #expect(throws: AWSChunkedError.self) { _ = try huge.feed(ByteBuffer(string: "7fffffffffffffff\r\n")) }
        // More declared than sent.
        do {
            _ = try decode(body, piece: 4096, signing: Self.signing, declaredLength: 70000)
            Issue.record("a body shorter than declared was accepted")
        } catch {
            #expect(error.s3Code == "IncompleteBody")
        }
    }
}
