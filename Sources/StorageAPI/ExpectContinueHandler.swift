import HTTPTypes
public import NIOCore
public import NIOHTTPTypes

/// Answers `Expect: 100-continue` with an interim `100 Continue`, which Hummingbird never sends
/// (S3 SDKs and curl otherwise stall a second before every upload). Limits are enforced while
/// the body streams, so continuing unconditionally is safe.
public final class ExpectContinueHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundOut = HTTPResponsePart

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data),
            let expect = head.headerFields[.expect], expect.lowercased() == "100-continue"
        {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }
}
