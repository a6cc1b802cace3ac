import Foundation
import NIOCore
import Testing

@testable import S3Protocol

/// Checksums against their published check values ("123456789") and values the AWS CLI sends.
@Suite struct ChecksumTests {
    static func checksum(_ algorithm: ChecksumAlgorithm, _ text: String, pieces: Int = 1) -> String {
        var running = RunningChecksum(algorithm)
        let bytes = Array(text.utf8)
        let size = max(1, (bytes.count + pieces - 1) / pieces)
        for start in stride(from: 0, to: bytes.count, by: size) {
            bytes[start..<min(bytes.count, start + size)].withUnsafeBytes { running.update($0) }
        }
        return running.finalize()
    }

    static func base64(_ value: UInt32) -> String {
        Data([UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]).base64EncodedString()
    }

    @Test func checkValues() {
        #expect(Self.checksum(.crc32, "123456789") == Self.base64(0xCBF4_3926))
        #expect(Self.checksum(.crc32c, "123456789") == Self.base64(0xE306_9283))
        #expect(Self.checksum(.crc32, "") == "AAAAAA==")
        #expect(Self.checksum(.crc32, "hello world") == "DUoRhQ==")
        #expect(Self.checksum(.sha256, "") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        #expect(Self.checksum(.sha1, "abc") == "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=")
    }

    @Test(arguments: ChecksumAlgorithm.allCases)
    func anySplitGivesTheSameValue(_ algorithm: ChecksumAlgorithm) {
        let text = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 37)
        let whole = Self.checksum(algorithm, text)
        for pieces in [2, 3, 7, 64, 999] { #expect(Self.checksum(algorithm, text, pieces: pieces) == whole) }
    }

    /// The folding CRC-32 (carry-less multiplication) gives the table's value at every length and
    /// alignment, and over a long run.
    @Test func foldingAgreesWithTheTable() throws {
        try #require(CRC32Table.foldAvailable, "this CPU has no PCLMULQDQ")
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<(1 << 20) + 100).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes.withUnsafeBytes { all in
            for length in Array(60...300) + [4096, 65_537, 1 << 20] {
                for offset in [0, 1, 7, 15] where offset + length <= all.count {
                    let slice = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                    let seed: UInt32 = length % 2 == 0 ? 0xFFFF_FFFF : 0x1234_5678
                    #expect(CRC32Table.updateIEEE(seed, slice) == CRC32Table.ieee.update(seed, slice), "length \(length) offset \(offset)")
                }
            }
        }
        #expect(Self.checksum(.crc32, String(repeating: "123456789", count: 100)) == Self.checksum(.crc32, String(repeating: "123456789", count: 100), pieces: 900))
    }

    @Test func headerNames() {
        #expect(ChecksumAlgorithm(headerName: "X-Amz-Checksum-CRC32C") == .crc32c)
        #expect(ChecksumAlgorithm(headerName: "x-amz-checksum-md5") == nil)
        #expect(ChecksumAlgorithm.sha256.headerName == "x-amz-checksum-sha256")
    }

    @Test func theDecoderChecksTheAnnouncedTrailer() throws {
        func decode(_ body: String, _ algorithm: ChecksumAlgorithm) throws(AWSChunkedError) {
            var decoder = AWSChunkedDecoder(signing: nil, trailerChecksum: algorithm)
            _ = try decoder.feed(ByteBuffer(string: body))
            try decoder.finish()
        }
        try decode("5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n", .crc32)
        do {
            try decode("5\r\nhello\r\n6\r\n World\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n", .crc32)
            Issue.record("a wrong checksum passed")
        } catch {
            #expect(error.s3Code == "BadDigest")
            #expect(error.httpStatus == 400)
        }
        #expect(throws: AWSChunkedError.self) { try decode("5\r\nhello\r\n0\r\n\r\n", .crc32) }
        #expect(throws: AWSChunkedError.self) { try decode("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n", .crc32c) }
    }
}
