import CDigest
import Crypto
import Foundation

/// The checksums S3 clients send with a body, in `x-amz-checksum-<name>` (a header, or a trailer
/// of an `aws-chunked` body): base64 of the big-endian digest.
public enum ChecksumAlgorithm: String, Sendable, CaseIterable {
    case crc32, crc32c, sha1, sha256

    /// The header or trailer that carries it.
    public var headerName: String { "x-amz-checksum-\(rawValue)" }

    /// The algorithm a header or trailer name stands for (`x-amz-checksum-crc32c` → `.crc32c`).
    public init?(headerName: String) {
        let prefix = "x-amz-checksum-"
        let name = headerName.lowercased()
        guard name.hasPrefix(prefix), let algorithm = Self(rawValue: String(name.dropFirst(prefix.count))) else { return nil }
        self = algorithm
    }
}

/// One checksum computed as the bytes stream by.
public struct RunningChecksum: Sendable {
    public let algorithm: ChecksumAlgorithm
    private var crc: UInt32 = 0xFFFF_FFFF
    private var sha1 = Insecure.SHA1()
    private var sha256 = SHA256()

    public init(_ algorithm: ChecksumAlgorithm) {
        self.algorithm = algorithm
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch algorithm {
        case .crc32: crc = CRC32Table.updateIEEE(crc, bytes)
        case .crc32c: crc = CRC32Table.castagnoli.update(crc, bytes)
        case .sha1: sha1.update(bufferPointer: bytes)
        case .sha256: sha256.update(bufferPointer: bytes)
        }
    }

    /// The value as S3 writes it: base64 of the digest, CRCs big-endian.
    public func finalize() -> String {
        switch algorithm {
        case .crc32, .crc32c:
            let value = ~crc
            return Data([UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)])
                .base64EncodedString()
        case .sha1: return Data(sha1.finalize()).base64EncodedString()
        case .sha256: return Data(sha256.finalize()).base64EncodedString()
        }
    }
}

/// Reflected CRC-32 by table, eight bytes a step ("slicing by 8"): several times faster than a byte
/// at a time, and checksums run over every byte of an upload.
struct CRC32Table: Sendable {
    static let ieee = CRC32Table(polynomial: 0xEDB8_8320)
    static let castagnoli = CRC32Table(polynomial: 0x82F6_3B78)

    /// `tables[k][b]`: the CRC of byte `b` followed by `k` zero bytes.
    private let tables: [[UInt32]]

    init(polynomial: UInt32) {
        var first = [UInt32](repeating: 0, count: 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1 }
            first[byte] = crc
        }
        var tables = [first]
        for k in 1..<8 {
            tables.append((0..<256).map { byte in
                let previous = tables[k - 1][byte]
                return (previous >> 8) ^ first[Int(previous & 0xFF)]
            })
        }
        self.tables = tables
    }

    /// Whether `cdg_crc32_fold` (carry-less multiplication) can run here.
    static let foldAvailable = cdg_crc32_fold_available() != 0

    /// The IEEE CRC over `bytes`: runs of 64 bytes or more by folding where the CPU can, the
    /// rest (and everything elsewhere) by table.
    static func updateIEEE(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard foldAvailable, bytes.count >= 64, let base = bytes.baseAddress else { return ieee.update(crc, bytes) }
        let folded = bytes.count & ~15
        let crc = cdg_crc32_fold(crc, base.assumingMemoryBound(to: UInt8.self), folded)
        return ieee.update(crc, UnsafeRawBufferPointer(rebasing: bytes[folded...]))
    }

    func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = crc
        var index = 0
        let count = bytes.count
        tables.withUnsafeBufferPointer { t in
            let (t0, t1, t2, t3, t4, t5, t6, t7) = (t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7])
            while count - index >= 8 {
                let low = crc ^ (UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8
                    | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24)
                crc = t7[Int(low & 0xFF)] ^ t6[Int(low >> 8 & 0xFF)] ^ t5[Int(low >> 16 & 0xFF)] ^ t4[Int(low >> 24)]
                    ^ t3[Int(bytes[index + 4])] ^ t2[Int(bytes[index + 5])] ^ t1[Int(bytes[index + 6])]
                    ^ t0[Int(bytes[index + 7])]
                index += 8
            }
            while index < count {
                crc = (crc >> 8) ^ t0[Int((crc ^ UInt32(bytes[index])) & 0xFF)]
                index += 1
            }
        }
        return crc
    }
}
