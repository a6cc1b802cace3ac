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

/// How long a client has kept the server waiting: time counts only while the server has asked for
/// bytes (a read is outstanding), so a client held back by the server itself (a body the server
/// is not reading while it waits on the database) is never taken for a stalled one. A plain
/// value, tested without channels.
struct StallClock: Sendable, Equatable {
    /// Waiting time of earlier reads since the client last sent something.
    private var earlier: TimeAmount = .zero
    /// When the outstanding read was asked for; nil while the server asks for nothing.
    private var waitingSince: NIODeadline?

    init(now: NIODeadline) {
        waitingSince = now
    }

    /// The server asked for more bytes.
    mutating func serverAsked(at now: NIODeadline) {
        if waitingSince == nil { waitingSince = now }
    }

    /// A read ended (bytes or not); until the server asks again, the client is not waited on.
    mutating func readEnded(at now: NIODeadline) {
        if let since = waitingSince { earlier = earlier + (now - since) }
        waitingSince = nil
    }

    /// The client made progress (a request part arrived), or a response ended: start again.
    mutating func restart(at now: NIODeadline) {
        earlier = .zero
        if waitingSince != nil { waitingSince = now }
    }

    func quiet(at now: NIODeadline) -> TimeAmount {
        earlier + (waitingSince.map { now - $0 } ?? .zero)
    }
}

/// Closes connections whose client stops sending mid-request or never completes one (slowloris),
/// after `timeout` of the server waiting for a byte. Downloads, slow server work and bodies the
/// server is not reading yet are unaffected.
public final class StalledRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    private var activity = ConnectionActivity()
    private var clock = StallClock(now: .now())
    private var check: Scheduled<Void>?

    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        clock = StallClock(now: .now())
        schedule(context, at: .now() + timeout)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        activity.read(unwrapInboundIn(data))
        clock.restart(at: .now())
        context.fireChannelRead(data)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        clock.readEnded(at: .now())
        context.fireChannelReadComplete()
    }

    public func read(context: ChannelHandlerContext) {
        clock.serverAsked(at: .now())
        context.read()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        activity.wrote(unwrapOutboundIn(data))
        // A response just finished: the idle clock starts again from here.
        if activity.responsesPending == 0 { clock.restart(at: .now()) }
        context.write(data, promise: promise)
    }

    private func schedule(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        let loop = context.eventLoop.assumeIsolated()
        check = loop.scheduleTask(deadline: deadline) { [self] in
            let now = NIODeadline.now()
            let left = timeout - clock.quiet(at: now)
            if left <= .zero, activity.closesWhenQuiet {
                context.close(promise: nil)
            } else {
                schedule(context, at: now + max(left, .milliseconds(100)))
            }
        }
    }
}
