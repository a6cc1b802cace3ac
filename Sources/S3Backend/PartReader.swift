import NIOCore

/// Cuts one request body into consecutive pieces: exact-length streams (nothing buffered),
/// streams of at most some length, or collected buffers of at most one part. Pieces are
/// consumed one after another, never concurrently.
final class PartReader<Base: AsyncSequence & Sendable>: @unchecked Sendable where Base.Element == ByteBuffer {
    /// The body ended before an exact-length piece was complete.
    struct ShortBody: Error {}

    private var iterator: Base.AsyncIterator
    private var leftover = ByteBuffer()
    private(set) var isFinished = false
    /// The error the body threw, if any: it, not the transport's symptom, is what went wrong.
    private(set) var failure: (any Error)?

    init(_ base: Base) {
        self.iterator = base.makeAsyncIterator()
    }

    fileprivate func nextChunk() async throws -> ByteBuffer? {
        if leftover.readableBytes > 0 {
            defer { leftover = ByteBuffer() }
            return leftover
        }
        guard !isFinished else { return nil }
        do {
            guard let chunk = try await iterator.next() else {
                isFinished = true
                return nil
            }
            return chunk
        } catch {
            failure = error
            throw error
        }
    }

    /// Returns the unused tail of a chunk, to be read first next time.
    fileprivate func giveBack(_ chunk: ByteBuffer) {
        if chunk.readableBytes > 0 { leftover = chunk }
    }

    fileprivate func noteShortBody() {
        failure = failure ?? ShortBody()
    }

    /// Whether the body has more bytes (waits for the next chunk if none is buffered).
    func hasMore() async throws -> Bool {
        while leftover.readableBytes == 0 {
            guard !isFinished, let chunk = try await nextChunk() else { return false }
            giveBack(chunk)
        }
        return true
    }

    /// Up to `limit` bytes gathered in memory (fewer only at the end of the body).
    func collect(upTo limit: Int) async throws -> ByteBuffer {
        var buffer = ByteBuffer()
        // Once, so the part never regrows (and briefly doubles) while it fills; pages are only
        // touched as bytes arrive.
        buffer.reserveCapacity(limit)
        while buffer.readableBytes < limit, var chunk = try await nextChunk() {
            let take = min(chunk.readableBytes, limit - buffer.readableBytes)
            var slice = chunk.readSlice(length: take)!
            buffer.writeBuffer(&slice)
            giveBack(chunk)
        }
        if leftover.readableBytes == 0, !isFinished {
            // Learn whether the body has ended, so a body of exactly one part is one PutObject.
            if let chunk = try await nextChunk() { giveBack(chunk) }
        }
        return buffer
    }

    /// Exactly `length` bytes of the body; the stream throws `ShortBody` if the body ends first.
    /// `handedOver` runs once its last byte has been taken from the body.
    func exactly(_ length: Int64, handedOver: @escaping @Sendable () -> Void = {}) -> Slice {
        Slice(reader: self, length: length, exact: true, handedOver: handedOver)
    }

    /// At most `length` bytes of the body, ending early where the body ends.
    func upTo(_ length: Int64) -> Slice {
        Slice(reader: self, length: length, exact: false, handedOver: {})
    }

    /// A consecutive run of the body's bytes.
    struct Slice: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let reader: PartReader
        let length: Int64
        let exact: Bool
        let handedOver: @Sendable () -> Void

        struct AsyncIterator: AsyncIteratorProtocol {
            let slice: Slice
            var remaining: Int64

            mutating func next() async throws -> ByteBuffer? {
                guard remaining > 0 else { return nil }
                guard var chunk = try await slice.reader.nextChunk() else {
                    guard slice.exact else {
                        remaining = 0
                        return nil
                    }
                    slice.reader.noteShortBody()
                    throw ShortBody()
                }
                if Int64(chunk.readableBytes) >= remaining {
                    let part = chunk.readSlice(length: Int(remaining))!
                    slice.reader.giveBack(chunk)
                    remaining = 0
                    slice.handedOver()
                    return part
                }
                remaining -= Int64(chunk.readableBytes)
                return chunk
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(slice: self, remaining: length) }
    }
}
