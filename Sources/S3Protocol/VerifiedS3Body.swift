import Crypto
import Foundation
public import NIOCore
import WireFormats

/// An error the S3 endpoint answers with its own `<Code>` and status.
public protocol S3ErrorDescribing: Error, Sendable {
    /// The S3 error code (`<Code>`).
    var s3Code: String { get }
    /// The HTTP status.
    var httpStatus: Int { get }
    /// What went wrong, for `<Message>`.
    var message: String { get }
}

extension S3AuthError: S3ErrorDescribing {}
extension AWSChunkedError: S3ErrorDescribing {}

/// A body whose bytes do not match what the request said about them.
public struct S3BodyError: S3ErrorDescribing, CustomStringConvertible {
    public let s3Code: String
    public let message: String
    public var httpStatus: Int { 400 }

    public static let sha256Mismatch = S3BodyError(
        s3Code: "XAmzContentSHA256Mismatch", message: "The provided 'x-amz-content-sha256' header does not match what was computed.")
    public static let md5Mismatch = S3BodyError(
        s3Code: "BadDigest", message: "The Content-MD5 you specified did not match what we received.")
    public static let invalidMD5 = S3BodyError(s3Code: "InvalidDigest", message: "The Content-MD5 you specified was invalid.")
    public static func checksumMismatch(_ algorithm: ChecksumAlgorithm) -> S3BodyError {
        S3BodyError(s3Code: "BadDigest", message: "The \(algorithm.rawValue.uppercased()) you specified did not match the calculated checksum.")
    }

    public var description: String { "\(s3Code): \(message)" }
}

/// What a request says its body must be, checked as the bytes stream by.
public struct S3BodyExpectations: Sendable {
    /// `x-amz-content-sha256` when it is a hash (not `UNSIGNED-PAYLOAD` or a streaming mode), lower-case hex.
    public var sha256: String?
    /// `Content-MD5`, the base64 of the MD5 of the (decoded) body.
    public var md5: [UInt8]?
    /// An `x-amz-checksum-*` header, with its base64 value.
    public var checksum: (algorithm: ChecksumAlgorithm, value: String)?

    public init(sha256: String? = nil, md5: [UInt8]? = nil, checksum: (algorithm: ChecksumAlgorithm, value: String)? = nil) {
        self.sha256 = sha256
        self.md5 = md5
        self.checksum = checksum
    }

    /// Reads `Content-MD5`: nil when absent; InvalidDigest when it is not base64 of 16 bytes.
    public static func contentMD5(_ header: String?) throws(S3BodyError) -> [UInt8]? {
        guard let header else { return nil }
        guard let bytes = Data(base64Encoded: header), bytes.count == 16 else { throw S3BodyError.invalidMD5 }
        return Array(bytes)
    }
}

/// A request body as the object store must see it: decoded when it is `aws-chunked`, and checked
/// against the request's SHA-256, `Content-MD5` and checksum header as it streams. The last buffer
/// is held back until the body has ended and every check passed, so a store that stops reading at
/// the declared length never holds a complete object that failed its checks: it gets the error
/// instead, and keeps nothing. Memory: at most the buffers one input buffer decodes to, plus one.
public struct VerifiedS3Body<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    public typealias Element = ByteBuffer

    let base: Base
    let decoder: AWSChunkedDecoder?
    let expectations: S3BodyExpectations

    /// `decoder` decodes an `aws-chunked` body; nil passes the bytes through as they are.
    public init(_ base: Base, decoder: AWSChunkedDecoder?, expectations: S3BodyExpectations) {
        self.base = base
        self.decoder = decoder
        self.expectations = expectations
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), decoder: decoder, expectations: expectations)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var decoder: AWSChunkedDecoder?
        let expectations: S3BodyExpectations
        var sha256: SHA256?
        var md5: Insecure.MD5?
        var checksum: RunningChecksum?
        var ready: [ByteBuffer] = []
        var ended = false

        init(base: Base.AsyncIterator, decoder: AWSChunkedDecoder?, expectations: S3BodyExpectations) {
            self.base = base
            self.decoder = decoder
            self.expectations = expectations
            self.sha256 = expectations.sha256 == nil ? nil : SHA256()
            self.md5 = expectations.md5 == nil ? nil : Insecure.MD5()
            self.checksum = expectations.checksum.map { RunningChecksum($0.algorithm) }
        }

        public mutating func next() async throws -> ByteBuffer? {
            while true {
                if ended { return ready.isEmpty ? nil : ready.removeFirst() }
                if ready.count > 1 { return ready.removeFirst() }
                guard let input = try await base.next() else {
                    try finish()
                    ended = true
                    continue
                }
                // The payload hash covers the bytes as sent (a signed body is never aws-chunked).
                if sha256 != nil { input.withUnsafeReadableBytes { sha256?.update(bufferPointer: $0) } }
                let decoded: [ByteBuffer]
                if decoder != nil { decoded = try decoder!.feed(input) } else { decoded = [input] }
                for buffer in decoded where buffer.readableBytes > 0 {
                    buffer.withUnsafeReadableBytes { bytes in
                        md5?.update(bufferPointer: bytes)
                        checksum?.update(bytes)
                    }
                    ready.append(buffer)
                }
            }
        }

        private func finish() throws {
            try decoder?.finish()
            if let expected = expectations.sha256, let sha256, sha256.finalize().lowercaseHex != expected {
                throw S3BodyError.sha256Mismatch
            }
            if let expected = expectations.md5, let md5, Array(md5.finalize()) != expected { throw S3BodyError.md5Mismatch }
            if let expected = expectations.checksum, let checksum, checksum.finalize() != expected.value {
                throw S3BodyError.checksumMismatch(expected.algorithm)
            }
        }
    }
}
