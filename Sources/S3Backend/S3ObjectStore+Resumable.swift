public import ObjectStore
public import Logging
public import NIOCore
import S3

/// S3 modes write a resumable upload straight into the parts of one multipart upload of the
/// final key. Every part but the last must be at least 5 MiB, so bytes short of that wait in
/// temporary piece objects; the next chunk streams them back into its first part. Parts are
/// between 5 MiB and the part size; the waiting pieces become the last part when the upload
/// finishes.
extension S3ObjectStore {
    public func receiveChunk<Body: AsyncSequence & Sendable>(
        _ body: Body, length: Int64?, after pieces: ResumablePieces, target: ResumableTarget,
        ledger: some ResumableLedger, logger: Logger
    ) async throws -> ResumablePieces where Body.Element == ByteBuffer {
        let reader = PartReader(body)
        var state = pieces
        var remaining = length
        do {
            while true {
                let waiting = state.pieces.reduce(0) { $0 + $1.size }
                if let left = remaining {
                    guard left > 0 else { break }
                    // A part as soon as there is enough for one (at least S3's minimum, at most the
                    // part size): chunks of 5 MiB or more never wait in pieces.
                    let total = waiting + left
                    let take = total > Int64(partSize) ? Int64(partSize) - waiting : left
                    let fillsPart = waiting + take >= Int64(Self.minimumPartSize)
                    let bytes = ByteStream(reader.exactly(take))
                    state = try await append(bytes, length: take, fillsPart: fillsPart, to: state, target: target, ledger: ledger, logger: logger)
                    remaining = left - take
                } else {
                    // Unknown length: at most one part is gathered in memory.
                    let buffer = try await reader.collect(upTo: partSize - Int(waiting))
                    if buffer.readableBytes > 0 {
                        let length = Int64(buffer.readableBytes)
                        state = try await append(
                            ByteStream.single(buffer), length: length,
                            fillsPart: waiting + length >= Int64(Self.minimumPartSize), to: state, target: target,
                            ledger: ledger, logger: logger)
                    }
                    guard try await reader.hasMore() else { break }
                }
            }
            return state
        } catch {
            throw reader.failure ?? Self.translate(error)
        }
    }

    /// Adds `length` bytes after `state`: as a part (with the waiting pieces in front) when they
    /// fill one, or else as one more piece.
    private func append(
        _ bytes: ByteStream, length: Int64, fillsPart: Bool, to state: ResumablePieces, target: ResumableTarget,
        ledger: some ResumableLedger, logger: Logger
    ) async throws -> ResumablePieces {
        if fillsPart {
            return try await foldIntoPart(state, then: bytes, length: length, target: target, ledger: ledger, logger: logger)
        }
        // Merging keeps pieces few, but not for chunks that carry a checksum (see `mergeTail`):
        // without a bound their pieces, and the rows and reads each later chunk costs, would grow
        // with every tiny chunk a client chooses to send.
        guard state.pieces.count < Self.maximumWaitingPieces else {
            throw ObjectStoreError(
                .tooManyParts, "the upload has \(state.pieces.count) waiting pieces under \(Self.minimumPartSize) bytes")
        }
        let key = target.pieceKey(try await ledger.reserve(.piece))
        let info = try await putObject(
            key, body: bytes, contentLength: length, contentType: "application/octet-stream", cacheControl: "no-cache", logger: logger)
        var next = state
        next.pieces.append(.init(key: key, size: info.size, md5: String(info.eTag.dropFirst().dropLast())))
        do {
            try await ledger.record(next)
        } catch {
            await cleanUp(.object(key), logger: logger)
            throw error
        }
        return await mergeTail(of: next, target: target, ledger: ledger, logger: logger)
    }

    /// Keeps the waiting pieces few: while the newest piece is at least as large as the one
    /// before it, the two become one. Piece sizes then fall from oldest to newest, so there are
    /// at most about log2(5 MiB) of them however small the chunks, and each byte is copied only
    /// as often as its piece doubles. Best effort: a merge that fails leaves the recorded state.
    private func mergeTail(
        of state: ResumablePieces, target: ResumableTarget, ledger: some ResumableLedger, logger: Logger
    ) async -> ResumablePieces {
        var current = state
        while !ledger.defersRecords, current.pieces.count >= 2 {
            let older = current.pieces[current.pieces.count - 2], newer = current.pieces[current.pieces.count - 1]
            guard older.size <= newer.size else { break }
            var merged: String?
            do {
                let key = target.pieceKey(try await ledger.reserve(.piece))
                merged = key
                let body = ByteStream.concatenating(pieceSources([older, newer], logger: logger))
                let info = try await putObject(
                    key, body: body, contentLength: older.size + newer.size, contentType: "application/octet-stream",
                    cacheControl: "no-cache", logger: logger)
                var next = current
                next.pieces.removeLast(2)
                next.pieces.append(.init(key: key, size: info.size, md5: String(info.eTag.dropFirst().dropLast())))
                // Recording drops the two merged pieces (the ledger deletes what the record no longer names).
                try await ledger.record(next)
                current = next
            } catch {
                if let merged { await cleanUp(.object(merged), logger: logger) }
                break
            }
        }
        return current
    }

    /// Uploads the waiting pieces followed by `bytes` as the next part, and records it.
    private func foldIntoPart(
        _ state: ResumablePieces, then bytes: ByteStream, length: Int64, target: ResumableTarget,
        ledger: some ResumableLedger, logger: Logger
    ) async throws -> ResumablePieces {
        var next = state
        let uploadID = try await multipartUpload(of: &next, target: target, ledger: ledger, logger: logger)
        let number = try await ledger.reserve(.part)
        guard number <= Self.maximumParts else {
            throw ObjectStoreError(.tooManyParts, "the upload needs more than \(Self.maximumParts) parts")
        }
        let sources = pieceSources(state.pieces, logger: logger)
        let partLength = state.pieces.reduce(0) { $0 + $1.size } + length
        let body = ByteStream.concatenating(sources + [{ bytes }])
        let eTag = try await client.uploadPart(
            target.objectKey, uploadID: uploadID, partNumber: number, body: .streaming(body, length: partLength), logger: logger)
        next.parts.append(.init(number: number, eTag: eTag, size: partLength))
        next.pieces = []
        try await ledger.record(next)
        return next
    }

    /// The multipart upload the parts go into, created (and recorded) on first use.
    private func multipartUpload(
        of state: inout ResumablePieces, target: ResumableTarget, ledger: some ResumableLedger, logger: Logger
    ) async throws -> String {
        if let existing = state.multipartUploadID { return existing }
        let uploadID = try await client.createMultipartUpload(
            target.objectKey, contentType: target.contentType, cacheControl: target.cacheControl, logger: logger)
        state.multipartUploadID = uploadID
        do {
            try await ledger.record(state)
        } catch {
            await abandon(uploadID, of: target.objectKey, logger: logger)
            throw error
        }
        return uploadID
    }

    public func assemble(
        _ pieces: ResumablePieces, target: ResumableTarget, ledger: some ResumableLedger, logger: Logger
    ) async throws -> ObjectInfo {
        do {
            if pieces.parts.isEmpty {
                // Less than one part in all: one object from the pieces.
                let info: ObjectInfo
                if pieces.pieces.count == 1 {
                    info = try await copyObject(
                        from: pieces.pieces[0].key, to: target.objectKey, contentType: target.contentType,
                        cacheControl: target.cacheControl, logger: logger)
                } else {
                    let sources = pieceSources(pieces.pieces, logger: logger)
                    info = try await putObject(
                        target.objectKey, body: ByteStream.concatenating(sources), contentLength: pieces.size,
                        contentType: target.contentType, cacheControl: target.cacheControl, logger: logger)
                }
                if let uploadID = pieces.multipartUploadID {
                    await abandon(uploadID, of: target.objectKey, logger: logger)
                }
                return info
            }
            var state = pieces
            if !state.pieces.isEmpty {
                state = try await foldIntoPart(state, then: .empty, length: 0, target: target, ledger: ledger, logger: logger)
            }
            guard let uploadID = state.multipartUploadID else {
                throw ObjectStoreError(.io, "parts without a multipart upload for \(target.objectKey)")
            }
            do {
                _ = try await client.completeMultipartUpload(
                    target.objectKey, uploadID: uploadID, parts: state.parts.map { ($0.number, $0.eTag) }, logger: logger)
            } catch {
                // An earlier attempt completed it; the object must then be whole.
                guard error.code == .noSuchUpload, try await client.headObject(target.objectKey, logger: logger).size == state.size else {
                    throw error
                }
            }
            return try await headObject(target.objectKey, logger: logger)
        } catch {
            throw Self.translate(error)
        }
    }

    public func discard(_ pieces: ResumablePieces, target: ResumableTarget, logger: Logger) async throws {
        do {
            if let uploadID = pieces.multipartUploadID {
                try await client.abortMultipartUpload(target.objectKey, uploadID: uploadID, logger: logger)
            }
            // The object too: a completion that assembled it but lost its lease before the row was
            // written leaves it; the row is not written, so no version points at it.
            try await client.deleteObjects(pieces.pieces.map(\.key) + [target.objectKey], logger: logger)
        } catch {
            throw Self.translate(error)
        }
    }
}

extension S3ObjectStore {
    /// Openers of the pieces' bytes, each fetched only when the previous one has been read.
    func pieceSources(_ pieces: [ResumablePieces.Piece], logger: Logger) -> [@Sendable () async throws -> ByteStream] {
        let client = self.client
        return pieces.map { piece in
            { @Sendable () async throws -> ByteStream in ByteStream(try await client.getObject(piece.key, logger: logger).body) }
        }
    }

    /// Aborts a multipart upload nothing will complete, now or once the backend is reachable.
    func abandon(_ uploadID: String, of key: String, logger: Logger) async {
        await cleanUp(.multipart(key: key, uploadID: uploadID), logger: logger)
    }
}

extension ByteStream {
    /// The streams `sources` open, one after another; each opens when the previous one ends.
    static func concatenating(_ sources: [@Sendable () async throws -> ByteStream]) -> ByteStream {
        ByteStream {
            let chain = StreamChain(sources)
            return { try await chain.next() }
        }
    }
}

/// The iteration state of `ByteStream.concatenating`; used by one consumer at a time.
private final class StreamChain: @unchecked Sendable {
    private var sources: ArraySlice<@Sendable () async throws -> ByteStream>
    private var current: ByteStream.AsyncIterator?

    init(_ sources: [@Sendable () async throws -> ByteStream]) {
        self.sources = sources[...]
    }

    func next() async throws -> ByteBuffer? {
        while true {
            if current != nil, let chunk = try await current!.next() { return chunk }
            guard let source = sources.popFirst() else { return nil }
            current = try await source().makeAsyncIterator()
        }
    }
}

extension ResumableTarget {
    /// The key of the upload's piece `number`.
    func pieceKey(_ number: Int) -> String { "\(piecePrefix)/\(number)" }
}
