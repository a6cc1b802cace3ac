import HTTPTypes
public import NIOCore
public import NIOHTTPTypes

/// What a connection is doing, as far as a read timeout cares: reading a request body, waiting
/// for the server's response, or neither. A plain value, tested without channels.
struct ConnectionActivity: Sendable, Equatable {
    /// A request head arrived and its end has not.
    private(set) var readingRequest = false
    /// Requests whose response has not been fully written.
    private(set) var responsesPending = 0

    mutating func read(_ part: HTTPRequestPart) {
        switch part {
        case .head:
            readingRequest = true
            responsesPending += 1
        case .body:
            break
        case .end:
            readingRequest = false
        }
    }

    mutating func wrote(_ part: HTTPResponsePart) {
        // Interim responses (100 Continue) end nothing.
        if case .head(let head) = part, head.status.kind == .informational { return }
        if case .end = part, responsesPending > 0 { responsesPending -= 1 }
    }

    /// Whether a connection that sent nothing for the timeout should be closed: a stalled body,
    /// or a connection with nothing to answer (idle, or headers trickling in). A client waiting
    /// for a slow response is left alone.
    var closesWhenQuiet: Bool { readingRequest || responsesPending == 0 }
}

/// Closes connections whose client stops sending mid-request or never completes one (slowloris),
/// after `timeout` without a byte. Downloads and slow server work are unaffected.
public final class StalledRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    private var activity = ConnectionActivity()
    private var lastRead = NIODeadline.now()
    private var check: Scheduled<Void>?

    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        lastRead = .now()
        schedule(context, at: lastRead + timeout)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        activity.read(unwrapInboundIn(data))
        lastRead = .now()
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        activity.wrote(unwrapOutboundIn(data))
        // A response just finished: the idle clock starts again from here.
        if activity.responsesPending == 0 { lastRead = .now() }
        context.write(data, promise: promise)
    }

    private func schedule(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        let loop = context.eventLoop.assumeIsolated()
        check = loop.scheduleTask(deadline: deadline) { [self] in
            let quietUntil = lastRead + timeout
            if NIODeadline.now() >= quietUntil, activity.closesWhenQuiet {
                context.close(promise: nil)
            } else {
                schedule(context, at: max(quietUntil, NIODeadline.now() + .milliseconds(100)))
            }
        }
    }
}
