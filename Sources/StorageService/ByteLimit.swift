public import NIOCore
import StorageCore

/// Passes a byte stream through, failing with `EntityTooLarge` as soon as more than `limit`
/// bytes have gone by. This is what enforces size limits on bodies without `Content-Length`.
public struct ByteLimitedSequence<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable
where Base.Element == ByteBuffer {
    public typealias Element = ByteBuffer

    let base: Base
    let limit: Int64

    public init(_ base: Base, limit: Int64) {
        self.base = base
        self.limit = limit
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let limit: Int64
        var count: Int64 = 0

        public mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try await base.next() else { return nil }
            count += Int64(chunk.readableBytes)
            if count > limit { throw StorageError.entityTooLarge() }
            return chunk
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), limit: limit)
    }
}
