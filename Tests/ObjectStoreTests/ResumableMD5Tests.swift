import Crypto
import Testing
import WireFormats

@testable import FileBackend
@testable import ObjectStore

/// The resumable MD5 against RFC 1321's test suite and swift-crypto, with its state saved and
/// restored at every kind of boundary (inside a block, on one, after several).
@Suite struct ResumableMD5Tests {
    @Test(arguments: [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
        ("12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"),
    ])
    func matchesTheRFCVectors(_ text: String, _ digest: String) {
        var md5 = ResumableMD5()
        Array(text.utf8).withUnsafeBytes { md5.update(bufferPointer: $0) }
        #expect(md5.digestBytes().lowercaseHex == digest)
    }

    @Test(arguments: [1, 3, 63, 64, 65, 1000, 4096])
    func resumesFromASavedStateAtAnyBoundary(_ step: Int) throws {
        let data = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        var state = ResumableMD5().savedState
        for start in stride(from: 0, to: data.count, by: step) {
            var md5 = try #require(ResumableMD5(savedState: state))
            data[start..<min(start + step, data.count)].withUnsafeBytes { md5.update(bufferPointer: $0) }
            state = md5.savedState
        }
        let finished = try #require(ResumableMD5(savedState: state))
        #expect(finished.digestBytes() == Array(Insecure.MD5.hash(data: data)))
        #expect(state.count == 2 * ResumableMD5.stateSize)
    }

    @Test func refusesWhatIsNotAState() {
        #expect(ResumableMD5(savedState: "") == nil)
        #expect(ResumableMD5(savedState: "zz") == nil)
        #expect(ResumableMD5(savedState: String(repeating: "0", count: 2 * ResumableMD5.stateSize - 2)) == nil)
    }
}
