import Crypto
import Foundation
public import NIOCore
import WireFormats

/// Decodes an `aws-chunked` request body as it streams in, one buffer at a time, without holding
/// more than a chunk header: `<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n` … then a zero-size
/// chunk, optional trailer lines (`x-amz-checksum-crc32:…`) and an empty line.
///
/// With `signing` (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`) each chunk's signature is checked
/// when the chunk ends, chained on the one before, so a chunk altered, dropped or moved fails. The
/// data of a chunk is handed on before its signature is checked (memory stays flat): the caller must
/// not make the upload visible until `finish` has returned. Pure: no I/O.
public struct AWSChunkedDecoder: Sendable {
    /// Longest chunk header or trailer line accepted; a longer one is an attack or a broken client.
    static let maximumLineLength = 4096
    /// Most trailer lines accepted.
    static let maximumTrailers = 16

    enum State: Sendable {
        /// Reading a chunk's header line.
        case header
        /// Inside a chunk's data, with this many bytes still to come.
        case data(remaining: Int)
        /// After a chunk's data: its `\r\n`.
        case dataEnd
        /// After the zero-size chunk: trailer lines until an empty one.
        case trailers
        case finished
    }

    private var state = State.header
    private var line: [UInt8] = []
    private var hasher = SHA256()
    private var chunkSignature: String?
    private var previousSignature: String?
    private let signing: ChunkSigning?
    /// The checksum the body's trailer must carry (`x-amz-trailer`), computed over the decoded bytes.
    private var checksum: RunningChecksum?
    /// `x-amz-decoded-content-length`: the body may decode to exactly this many bytes.
    private let declaredLength: Int64?
    /// Decoded bytes so far.
    public private(set) var decodedLength: Int64 = 0
    /// Trailer lines received, names lower-cased.
    public private(set) var trailers: [(String, String)] = []

    /// `signing` is the verified request's chunk signing when its chunks are signed, nil when not
    /// (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`); `trailerChecksum` the algorithm `x-amz-trailer` names.
    /// `declaredLength` is `x-amz-decoded-content-length` when sent: a body that decodes to more is
    /// refused at the chunk that passes it, before its bytes are handed on.
    public init(signing: ChunkSigning?, trailerChecksum: ChecksumAlgorithm? = nil, declaredLength: Int64? = nil) {
        self.signing = signing
        self.declaredLength = declaredLength
        self.previousSignature = signing?.seedSignature
        self.checksum = trailerChecksum.map(RunningChecksum.init)
    }

    /// Feeds the next piece of the encoded body; returns the decoded bytes it held (possibly none).
    public mutating func feed(_ input: ByteBuffer) throws(AWSChunkedError) -> [ByteBuffer] {
        var input = input
        var output: [ByteBuffer] = []
        while input.readableBytes > 0 {
            switch state {
            case .header:
                guard let header = try readLine(from: &input) else { continue }
                try startChunk(header)
            case .data(let remaining):
                let count = min(remaining, input.readableBytes)
                let slice = input.readSlice(length: count)!
                slice.withUnsafeReadableBytes { bytes in
                    if signing != nil { hasher.update(bufferPointer: bytes) }
                    checksum?.update(bytes)
                }
                decodedLength += Int64(count)
                output.append(slice)
                state = remaining == count ? .dataEnd : .data(remaining: remaining - count)
            case .dataEnd:
                guard let rest = try readLine(from: &input) else { continue }
                guard rest.isEmpty else { throw AWSChunkedError("a chunk's data is longer than its size") }
                try endChunk()
                state = .header
            case .trailers:
                guard let trailer = try readLine(from: &input) else { continue }
                if trailer.isEmpty {
                    state = .finished
                } else {
                    try addTrailer(trailer)
                }
            case .finished:
                throw AWSChunkedError("bytes after the end of the aws-chunked body")
            }
        }
        return output
    }

    /// Call at the end of the body: throws unless it ended where an encoded body may end and its
    /// checksum trailer, when one was announced, matches the decoded bytes.
    public func finish() throws(AWSChunkedError) {
        switch state {
        case .finished: break
        // Clients that send no trailers may end right after the final chunk's line ending.
        case .trailers where line.isEmpty && trailers.isEmpty: break
        default: throw AWSChunkedError("the aws-chunked body ended in the middle of a chunk", .truncated)
        }
        if let declaredLength, decodedLength != declaredLength {
            throw AWSChunkedError(
                "the body decoded to \(decodedLength) bytes, not its x-amz-decoded-content-length (\(declaredLength))", .truncated)
        }
        guard let checksum else { return }
        let name = checksum.algorithm.headerName
        guard let sent = trailers.first(where: { $0.0 == name })?.1 else {
            throw AWSChunkedError("the body announced the trailer \(name) and did not send it", .truncated)
        }
        guard sent == checksum.finalize() else {
            throw AWSChunkedError("The \(checksum.algorithm.rawValue.uppercased()) you specified did not match the calculated checksum.", .checksumMismatch)
        }
    }

    /// A line without its `\r\n`, or nil when it has not all arrived (the part kept for next time).
    private mutating func readLine(from input: inout ByteBuffer) throws(AWSChunkedError) -> [UInt8]? {
        let view = input.readableBytesView
        if let newline = view.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - view.startIndex
            line += input.readBytes(length: length)!
            input.moveReaderIndex(forwardBy: 1)
            guard line.last == UInt8(ascii: "\r") else { throw AWSChunkedError("a line of the aws-chunked body does not end in CRLF") }
            defer { line.removeAll(keepingCapacity: true) }
            guard line.count - 1 <= Self.maximumLineLength else { throw AWSChunkedError("a chunk header is too long") }
            return Array(line.dropLast())
        }
        line += input.readBytes(length: input.readableBytes)!
        guard line.count <= Self.maximumLineLength else { throw AWSChunkedError("a chunk header is too long") }
        return nil
    }

    private mutating func startChunk(_ header: [UInt8]) throws(AWSChunkedError) {
        let text = String(decoding: header, as: UTF8.self)
        let parts = text.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
        guard let sizeText = parts.first, !sizeText.isEmpty, sizeText.count <= 16,
            let size = Int(sizeText, radix: 16), size >= 0
        else { throw AWSChunkedError("the chunk size '\(text.prefix(40))' is not hexadecimal") }
        if signing != nil {
            let prefix = "chunk-signature="
            guard parts.count == 2, parts[1].hasPrefix(prefix) else {
                throw AWSChunkedError("a signed aws-chunked body's chunk has no chunk-signature")
            }
            chunkSignature = String(parts[1].dropFirst(prefix.count))
        }
        if let declaredLength, Int64(size) > declaredLength - decodedLength {
            throw AWSChunkedError("the body decodes to more than its x-amz-decoded-content-length (\(declaredLength))")
        }
        if size == 0 {
            try endChunk()
            state = .trailers
        } else {
            state = .data(remaining: size)
        }
    }

    private mutating func endChunk() throws(AWSChunkedError) {
        guard let signing, let previous = previousSignature, let claimed = chunkSignature else { return }
        let expected = signing.signature(chunkHash: hasher.finalize().lowercaseHex, previousSignature: previous)
        hasher = SHA256()
        guard constantTimeEqual(expected, claimed) else {
            throw AWSChunkedError("a chunk's signature does not match", .signatureMismatch)
        }
        previousSignature = expected
        chunkSignature = nil
    }

    private mutating func addTrailer(_ line: [UInt8]) throws(AWSChunkedError) {
        let text = String(decoding: line, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { throw AWSChunkedError("the trailer '\(text.prefix(40))' has no value") }
        guard trailers.count < Self.maximumTrailers else { throw AWSChunkedError("too many trailers") }
        trailers.append((
            text[..<colon].trimmingCharacters(in: .whitespaces).lowercased(),
            text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
    }
}

/// A body that is not valid `aws-chunked`, whose chunk signatures do not verify, or whose
/// checksum trailer does not match: the S3 error it is answered with.
public struct AWSChunkedError: Error, Sendable, CustomStringConvertible {
    enum Code: Sendable { case malformed, truncated, signatureMismatch, checksumMismatch }

    let code: Code
    public let message: String

    init(_ message: String, _ code: Code = .malformed) {
        self.code = code
        self.message = message
    }

    /// `InvalidRequest`, `IncompleteBody`, `SignatureDoesNotMatch` or `BadDigest`.
    public var s3Code: String {
        switch code {
        case .malformed: "InvalidRequest"
        case .truncated: "IncompleteBody"
        case .signatureMismatch: "SignatureDoesNotMatch"
        case .checksumMismatch: "BadDigest"
        }
    }

    public var httpStatus: Int { code == .signatureMismatch ? 403 : 400 }

    public var description: String { "\(s3Code): \(message)" }
}
