public import NIOCore

/// A type-erased, single-pass stream of byte buffers (an object body being downloaded).
public struct ByteStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    private let makeNext: @Sendable () -> @Sendable () async throws -> ByteBuffer?

    /// Wraps a closure that produces the "next chunk" function of a fresh iteration.
    public init(_ makeNext: @escaping @Sendable () -> @Sendable () async throws -> ByteBuffer?) {
        self.makeNext = makeNext
    }

    /// Wraps any sendable sequence of byte buffers.
    public init<Base: AsyncSequence & Sendable>(_ base: Base) where Base.Element == ByteBuffer {
        self.makeNext = {
            let box = IteratorBox(base.makeAsyncIterator())
            return { try await box.next() }
        }
    }

    /// A stream with no bytes.
    public static let empty = ByteStream { { nil } }

    /// A stream of one buffer already in memory.
    public static func single(_ buffer: ByteBuffer) -> ByteStream {
        ByteStream {
            let pending = PendingBuffer(buffer)
            return { pending.take() }
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let produce: @Sendable () async throws -> ByteBuffer?
        public mutating func next() async throws -> ByteBuffer? { try await produce() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(produce: makeNext()) }
}

/// Holds a non-sendable iterator; a single consumer calls `next` sequentially, never concurrently.
private final class IteratorBox<Base: AsyncIteratorProtocol>: @unchecked Sendable where Base.Element == ByteBuffer {
    private var base: Base
    init(_ base: Base) { self.base = base }
    func next() async throws -> ByteBuffer? { try await base.next() }
}

/// The one buffer of `ByteStream.single`, handed out once per iteration.
private final class PendingBuffer: @unchecked Sendable {
    private var buffer: ByteBuffer?
    init(_ buffer: ByteBuffer) { self.buffer = buffer }
    /// A single consumer calls this sequentially (as with `IteratorBox`).
    func take() -> ByteBuffer? {
        defer { buffer = nil }
        return buffer
    }
}
