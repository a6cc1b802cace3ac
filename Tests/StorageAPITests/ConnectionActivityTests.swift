import HTTPTypes
import NIOHTTPTypes
import Testing

@testable import StorageAPI

@Suite struct ConnectionActivityTests {
    static let get = HTTPRequestPart.head(HTTPRequest(method: .get, scheme: nil, authority: nil, path: "/"))

    @Test func newConnectionsCloseWhenQuiet() {
        // Nothing decoded yet: an idle connection or headers trickling in.
        #expect(ConnectionActivity().closesWhenQuiet)
    }

    @Test func aStalledBodyCloses() {
        var activity = ConnectionActivity()
        activity.read(Self.get)
        activity.read(.body(.init()))
        #expect(activity.closesWhenQuiet)
    }

    @Test func waitingForTheServerDoesNotClose() {
        var activity = ConnectionActivity()
        activity.read(Self.get)
        activity.read(.end(nil))
        #expect(!activity.closesWhenQuiet)
        // 100 Continue is not the response.
        activity.wrote(.head(HTTPResponse(status: .continue)))
        activity.wrote(.head(HTTPResponse(status: .ok)))
        activity.wrote(.body(.init()))
        #expect(!activity.closesWhenQuiet)
        activity.wrote(.end(nil))
        #expect(activity.closesWhenQuiet)
    }

    @Test func anEarlyResponseStillWaitsForTheBody() {
        var activity = ConnectionActivity()
        activity.read(Self.get)
        activity.wrote(.head(HTTPResponse(status: .badRequest)))
        activity.wrote(.end(nil))
        #expect(activity.closesWhenQuiet, "the client is still mid-request")
    }
}
