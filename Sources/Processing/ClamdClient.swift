public import NIOCore
import NIOPosix

/// What clamd said of a stream.
public enum ClamdVerdict: Sendable, Equatable {
    case clean
    /// A signature matched; its name.
    case infected(signature: String)
}

/// Why a scan did not come to a verdict: clamd unreachable, its answer cut off or an error it
/// reported (a stream over its `StreamMaxLength`, for one). The step retries these.
public struct ClamdError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public var underlying: (any Error)?

    init(_ description: String, underlying: (any Error)? = nil) {
        self.description = description
        self.underlying = underlying
    }
}

/// clamd's INSTREAM command over TCP: `zINSTREAM\0`, then chunks each behind its length as
/// four big-endian bytes, then a zero length; one NUL-terminated line answers. The object is
/// streamed through as the backend hands it over, never held whole.
public struct ClamdClient: Sendable {
    public var host: String
    public var port: Int
    /// The longest a whole scan may take.
    public var timeout: Duration

    public init(host: String, port: Int, timeout: Duration = .seconds(600)) {
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    /// Scans `body` (the object's bytes, in order).
    public func scan<Body: AsyncSequence & Sendable>(_ body: Body) async throws(ClamdError) -> ClamdVerdict
    where Body.Element == ByteBuffer {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: NIOSingletons.posixEventLoopGroup)
                .connectTimeout(.seconds(5))
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw ClamdError("clamd at \(host):\(port) is unreachable: \(error)", underlying: error)
        }
        do {
            return try await withThrowingTaskGroup(of: ClamdVerdict?.self) { group in
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                group.addTask {
                    try await channel.executeThenClose { inbound, outbound in
                        try await Self.exchange(body, inbound: inbound, outbound: outbound)
                    }
                }
                defer { group.cancelAll() }
                guard let verdict = try await group.next() ?? nil else {
                    throw ClamdError("clamd did not answer within \(timeout)")
                }
                return verdict
            }
        } catch let error as ClamdError {
            throw error
        } catch {
            throw ClamdError("clamd scan failed: \(error)", underlying: error)
        }
    }

    private static func exchange<Body: AsyncSequence>(
        _ body: Body, inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) async throws -> ClamdVerdict where Body.Element == ByteBuffer {
        var reply = ByteBuffer()
        // clamd answers early (and closes) when a stream passes its size limit: a failed write
        // then still leaves its answer to read.
        do {
            try await outbound.write(ByteBuffer(string: "zINSTREAM\0"))
            for try await chunk in body where chunk.readableBytes > 0 {
                var header = ByteBuffer()
                header.writeInteger(UInt32(chunk.readableBytes), endianness: .big)
                try await outbound.write(contentsOf: [header, chunk])
            }
            var end = ByteBuffer()
            end.writeInteger(UInt32(0), endianness: .big)
            try await outbound.write(end)
        } catch where error is ChannelError || error is IOError {}
        for try await part in inbound {
            var part = part
            reply.writeBuffer(&part)
            if reply.readableBytesView.contains(0) { break }
        }
        return try parseReply(String(buffer: reply))
    }

    /// `stream: OK`, `stream: <signature> FOUND`, or `<message> ERROR`.
    public static func parseReply(_ text: String) throws(ClamdError) -> ClamdVerdict {
        let line = String(text.prefix { $0 != "\0" && $0 != "\n" })
        guard !line.isEmpty else { throw ClamdError("clamd closed the connection without an answer") }
        let answer = line.hasPrefix("stream: ") ? String(line.dropFirst("stream: ".count)) : line
        if answer == "OK" { return .clean }
        if answer.hasSuffix(" FOUND") { return .infected(signature: String(answer.dropLast(" FOUND".count))) }
        throw ClamdError("clamd: \(line)")
    }
}
