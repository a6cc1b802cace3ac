import CDigest
import Crypto
import WireFormats

/// What `FileObjectStore.stream` hashes with: swift-crypto's MD5 for whole objects, the
/// resumable one for resumable uploads.
protocol StreamHasher: Sendable {
    mutating func update(bufferPointer: UnsafeRawBufferPointer)
    func digestBytes() -> [UInt8]
}

extension Insecure.MD5: StreamHasher {
    func digestBytes() -> [UInt8] { Array(finalize()) }
}

/// MD5 whose running state is stored with a resumable upload's pieces (`Piece.md5State`), so
/// every chunk extends one piece: the upload's record stays the same size however many chunks
/// it takes, and the finished object's ETag is the plain MD5 of its bytes.
struct ResumableMD5: StreamHasher {
    private var context = cdg_md5()

    init() { cdg_md5_init(&context) }

    /// Restores a state saved by `savedState`; nil when `hex` is not one.
    init?(savedState hex: String) {
        guard let bytes = [UInt8](hexadecimal: hex), bytes.count == Self.stateSize else { return nil }
        func word(_ offset: Int, _ count: Int) -> UInt64 {
            (0..<count).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
        }
        context.state = (UInt32(word(0, 4)), UInt32(word(4, 4)), UInt32(word(8, 4)), UInt32(word(12, 4)))
        context.length = word(16, 8)
        withUnsafeMutableBytes(of: &context.buffer) { buffer in
            for index in 0..<64 { buffer[index] = bytes[24 + index] }
        }
    }

    /// 4 state words, the length and the pending block.
    static let stateSize = 16 + 8 + 64

    /// The state as hex (little-endian words, then the length, then the pending block).
    var savedState: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.stateSize)
        let words = [context.state.0, context.state.1, context.state.2, context.state.3]
        for word in words { for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> shift)) } }
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: context.length >> UInt64(shift))) }
        withUnsafeBytes(of: context.buffer) { bytes += $0 }
        return bytes.lowercaseHex
    }

    mutating func update(bufferPointer: UnsafeRawBufferPointer) {
        cdg_md5_update(&context, bufferPointer.baseAddress, bufferPointer.count)
    }

    func digestBytes() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 16)
        withUnsafePointer(to: context) { cdg_md5_digest($0, &digest) }
        return digest
    }
}
