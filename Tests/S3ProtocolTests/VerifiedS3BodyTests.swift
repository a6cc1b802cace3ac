import Crypto
import Foundation
import NIOCore
import Testing

@testable import S3Protocol

/// The body wrapper: bytes pass through unchanged, every check runs at the end, and the last
/// buffer is only handed on once the checks passed.
@Suite struct VerifiedS3BodyTests {
    /// A body arriving in the given pieces.
    struct Pieces: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let pieces: [[UInt8]]
        struct AsyncIterator: AsyncIteratorProtocol {
            var remaining: [[UInt8]]
            mutating func next() async throws -> ByteBuffer? {
                remaining.isEmpty ? nil : ByteBuffer(bytes: remaining.removeFirst())
            }
        }
        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: pieces) }
    }

    static let data = (0..<10_000).map { UInt8($0 % 251) }
    static var pieces: Pieces { Pieces(pieces: [Array(data[0..<3000]), Array(data[3000..<3001]), Array(data[3001...])]) }

    /// What a consumer receives before the body fails (or all of it), and the failure.
    func consume(_ body: VerifiedS3Body<Pieces>) async -> (received: [UInt8], error: (any Error)?) {
        var received: [UInt8] = []
        do {
            for try await buffer in body { received += Array(buffer.readableBytesView) }
            return (received, nil)
        } catch {
            return (received, error)
        }
    }

    @Test func matchingChecksPassTheBytesThrough() async throws {
        let expectations = S3BodyExpectations(
            sha256: SHA256.hash(data: Self.data).map { String(format: "%02x", $0) }.joined(),
            md5: Array(Insecure.MD5.hash(data: Self.data)),
            checksum: (.sha256, Data(SHA256.hash(data: Self.data)).base64EncodedString()))
        let (received, error) = await consume(VerifiedS3Body(Self.pieces, decoder: nil, expectations: expectations))
        #expect(error == nil)
        #expect(received == Self.data)
    }

    @Test(arguments: ["sha256", "md5", "checksum"])
    func aFailedCheckWithholdsTheLastBytes(_ which: String) async {
        var expectations = S3BodyExpectations()
        switch which {
        case "sha256": expectations.sha256 = String(repeating: "0", count: 64)
        case "md5": expectations.md5 = [UInt8](repeating: 0, count: 16)
        default: expectations.checksum = (.crc32, "AAAAAA==")
        }
        let (received, error) = await consume(VerifiedS3Body(Self.pieces, decoder: nil, expectations: expectations))
        let failure = error as? S3BodyError
        #expect(failure != nil)
        #expect(failure?.s3Code == (which == "sha256" ? "XAmzContentSHA256Mismatch" : "BadDigest"))
        // The consumer never held the whole body: a store writing it keeps nothing.
        #expect(received.count < Self.data.count)
    }

    @Test func aChunkedBodyIsDecodedAndItsTrailerChecked() async {
        var body = Array("4\r\nabcd\r\n2\r\nef\r\n0\r\n".utf8)
        var crc = RunningChecksum(.crc32)
        Array("abcdef".utf8).withUnsafeBytes { crc.update($0) }
        body += Array("x-amz-checksum-crc32:\(crc.finalize())\r\n\r\n".utf8)
        let pieces = Pieces(pieces: body.map { [$0] })
        let good = await consume(
            VerifiedS3Body(pieces, decoder: AWSChunkedDecoder(signing: nil, trailerChecksum: .crc32, declaredLength: 6), expectations: .init()))
        #expect(good.error == nil)
        #expect(good.received == Array("abcdef".utf8))

        let tampered = Pieces(pieces: [Array(String(decoding: body, as: UTF8.self).replacingOccurrences(of: "abcd", with: "abce").utf8)])
        let bad = await consume(
            VerifiedS3Body(tampered, decoder: AWSChunkedDecoder(signing: nil, trailerChecksum: .crc32, declaredLength: 6), expectations: .init()))
        #expect((bad.error as? AWSChunkedError)?.s3Code == "BadDigest")
        #expect(bad.received.count < 6)
    }

    @Test func contentMD5MustBeBase64OfSixteenBytes() throws {
        #expect(try S3BodyExpectations.contentMD5(nil) == nil)
        #expect(try S3BodyExpectations.contentMD5(Data(count: 16).base64EncodedString())?.count == 16)
        #expect(throws: S3BodyError.self) { try S3BodyExpectations.contentMD5("not base64!") }
        #expect(throws: S3BodyError.self) { try S3BodyExpectations.contentMD5(Data(count: 8).base64EncodedString()) }
    }
}
