import Foundation
import Hummingbird
import NIOCore
import S3
import S3Protocol
import StorageCore

extension S3Call {
    /// The request body as the store must see it — decoded from `aws-chunked` when it is, checked
    /// against the payload hash, `Content-MD5` and any `x-amz-checksum-*` header — with its
    /// decoded length, which S3 requires up front (MissingContentLength otherwise).
    func body() throws -> (body: VerifiedS3Body<RequestBody>, length: Int64) {
        let mode = verified.payloadHash
        let streaming = mode.hasPrefix("STREAMING-")
        let length: Int64?
        var decoder: AWSChunkedDecoder?
        var checksumName: String?
        if streaming {
            length = header("x-amz-decoded-content-length").flatMap { Int64($0) }
            let trailer = header("x-amz-trailer").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            let trailerChecksum = try trailer.map { name throws(S3Failure) -> ChecksumAlgorithm in
                guard let algorithm = ChecksumAlgorithm(headerName: name) else {
                    throw S3Failure.invalidArgument("The value specified in the x-amz-trailer header is not supported")
                }
                return algorithm
            }
            let signed = mode.hasPrefix("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
            guard (signed && verified.chunkSigning != nil) || mode == "STREAMING-UNSIGNED-PAYLOAD-TRAILER" else {
                throw S3Failure.invalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] or a SHA-256")
            }
            decoder = AWSChunkedDecoder(
                signing: signed ? verified.chunkSigning : nil, trailerChecksum: trailerChecksum, declaredLength: length)
            checksumName = trailer
        } else {
            length = request.headers[.contentLength].flatMap { Int64($0) }
        }
        guard let length, length >= 0 else { throw S3Failure.missingContentLength }
        var expectations = S3BodyExpectations(md5: try S3BodyExpectations.contentMD5(header("content-md5")))
        if !streaming, mode != "UNSIGNED-PAYLOAD" {
            guard mode.count == 64, mode.allSatisfy(\.isHexDigit) else {
                throw S3Failure.invalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] or a SHA-256")
            }
            expectations.sha256 = mode.lowercased()
        }
        // A checksum header (not the trailer's announcement) is checked over the decoded bytes.
        for algorithm in ChecksumAlgorithm.allCases where algorithm.headerName != checksumName {
            if let value = header(algorithm.headerName) { expectations.checksum = (algorithm, value) }
        }
        return (VerifiedS3Body(request.body, decoder: decoder, expectations: expectations), length)
    }

    /// A small XML request body (multipart completion, bulk delete), verified, at most 1 MiB.
    func xmlBody() async throws -> XMLTree {
        let (body, length) = try body()
        guard length <= 1 << 20 else { throw S3Failure(code: "MaxMessageLengthExceeded", status: 400, message: "Your request was too big.") }
        var collected = ByteBuffer()
        for try await var chunk in body {
            guard collected.readableBytes + chunk.readableBytes <= 1 << 20 else {
                throw S3Failure(code: "MaxMessageLengthExceeded", status: 400, message: "Your request was too big.")
            }
            collected.writeBuffer(&chunk)
        }
        guard let tree = XMLTree.parse(Data(collected.readableBytesView)) else { throw S3Failure.malformedXML }
        return tree
    }

    /// `x-amz-meta-*` headers as user metadata (names lower-cased, prefix removed); nil when none.
    /// At most 2 KiB of names and values, as S3 allows (`MetadataTooLarge`).
    func userMetadata() throws(S3Failure) -> JSONValue? {
        var members: [String: JSONValue] = [:]
        var bytes = 0
        for (name, value) in received.headers {
            let lower = name.lowercased()
            guard lower.hasPrefix("x-amz-meta-"), lower.count > "x-amz-meta-".count else { continue }
            let member = String(lower.dropFirst("x-amz-meta-".count))
            bytes += member.utf8.count + value.utf8.count
            members[member] = .string(value)
        }
        guard bytes <= Self.maximumMetadataBytes else {
            throw S3Failure(
                code: "MetadataTooLarge", status: 400,
                message: "Your metadata headers exceed the maximum allowed metadata size (\(Self.maximumMetadataBytes) bytes).")
        }
        return members.isEmpty ? nil : .object(members)
    }

    static let maximumMetadataBytes = 2048
}
