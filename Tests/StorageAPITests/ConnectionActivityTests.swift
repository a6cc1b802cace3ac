import HTTPTypes
import NIOCore
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

@Suite struct StallClockTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func countsWhileTheServerWaitsForTheClient() {
        let clock = StallClock(now: Self.start)
        #expect(clock.quiet(at: Self.start + .seconds(3)) == .seconds(3))
    }

    @Test func pausesWhileTheServerAsksForNothing() {
        // A body the server does not read while it waits on the database: the client is not stalling.
        var clock = StallClock(now: Self.start)
        clock.readEnded(at: Self.start + .seconds(1))
        #expect(clock.quiet(at: Self.start + .seconds(60)) == .seconds(1))
        clock.serverAsked(at: Self.start + .seconds(60))
        #expect(clock.quiet(at: Self.start + .seconds(62)) == .seconds(3))
    }

    @Test func tricklingBytesThatCompleteNothingKeepCounting() {
        // Slowloris: reads end with a few header bytes each, and the server asks again at once.
        var clock = StallClock(now: Self.start)
        for second in 1...5 {
            let now = Self.start + .seconds(Int64(second))
            clock.readEnded(at: now)
            clock.serverAsked(at: now)
        }
        #expect(clock.quiet(at: Self.start + .seconds(6)) == .seconds(6))
    }

    @Test func progressRestartsTheClock() {
        var clock = StallClock(now: Self.start)
        clock.restart(at: Self.start + .seconds(5))
        #expect(clock.quiet(at: Self.start + .seconds(7)) == .seconds(2))
        clock.readEnded(at: Self.start + .seconds(8))
        clock.restart(at: Self.start + .seconds(9))
        #expect(clock.quiet(at: Self.start + .seconds(20)) == .zero)
    }
}
