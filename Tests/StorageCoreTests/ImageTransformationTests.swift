import Testing

@testable import StorageCore

@Suite struct ImageTransformationTests {
    func parse(_ query: [String: String], limits: ImageTransformation.Limits = .init()) throws -> ImageTransformation {
        try ImageTransformation.parse(location: "querystring", limits: limits) { query[$0] }
    }

    @Test func readsEveryOption() throws {
        let parsed = try parse(["width": "300", "height": "200", "resize": "contain", "format": "webp", "quality": "60"])
        #expect(parsed == ImageTransformation(width: 300, height: 200, resize: .contain, format: .webp, quality: 60))
        #expect(parsed.headerValue == "height:200,width:300,resizing_type:fit,quality:60,format:webp")
        #expect(parsed.tokenClaim == "height:200,width:300,resize:contain,quality:60,format:webp")
    }

    @Test func clampsSizesAndTreatsZeroAsAbsent() throws {
        #expect(try parse(["width": "5000", "height": "0"]) == ImageTransformation(width: 2000))
        #expect(try parse(["width": "1"], limits: .init(minimumSize: 16, maximumSize: 64)).width == 16)
        #expect(try parse(["width": "", "height": ""]).isEmpty)
    }

    @Test func resizeDefaultsToImgproxyFillOnlyWithASize() throws {
        #expect(try parse(["width": "10"]).headerValue == "width:10,resizing_type:fill")
        #expect(try parse(["resize": "fill"]).headerValue == "")
        #expect(try parse(["height": "10", "resize": "fill"]).headerValue == "height:10,resizing_type:force")
        #expect(try parse(["width": "10"]).tokenClaim == "width:10,resize:undefined")
    }

    @Test func originIsNotATransformation() throws {
        let origin = try parse(["format": "origin"])
        #expect(origin.format == .origin)
        #expect(origin.isEmpty)
        #expect(try parse(["quality": "50"]).isEmpty == false)
    }

    @Test(arguments: [
        (["width": "-1"], "querystring/width must be >= 0"),
        (["height": "tall"], "querystring/height must be integer"),
        (["quality": "19"], "querystring/quality must be >= 20"),
        (["quality": "101"], "querystring/quality must be <= 100"),
        (["resize": "stretch"], "querystring/resize must be equal to one of the allowed values"),
        (["format": "gif"], "querystring/format must be equal to one of the allowed values"),
    ])
    func rejects(_ query: [String: String], _ message: String) {
        #expect(throws: StorageError.validation(message)) { try parse(query) }
    }

    @Test func readsGravityAndOffsets() throws {
        let parsed = try parse(["width": "100", "height": "50", "gravity": "noea", "x_offset": "10", "y_offset": "-0.5"])
        #expect(parsed.gravity == .northEast)
        #expect((parsed.xOffset, parsed.yOffset) == (10, -0.5))
        #expect(parsed.placesCrop)
        #expect(parsed.headerValue == "height:50,width:100,resizing_type:fill,gravity:noea:10:-0.5")
        #expect(parsed.tokenClaim == "height:50,width:100,resize:undefined,gravity:noea:10:-0.5")
        // One offset given: the other is 0 in the segment.
        #expect(try parse(["gravity": "so", "y_offset": "3"]).headerValue == "gravity:so:0:3")
        // Smart crops take no offsets; offsets without a gravity mean nothing.
        #expect(try parse(["gravity": "sm", "x_offset": "4"]).xOffset == nil)
        #expect(try parse(["x_offset": "4"]) == ImageTransformation())
    }

    @Test func gravityPlacesACropOnlyOffCentreOnACoverWithBothSides() throws {
        #expect(try parse(["width": "10", "height": "10", "gravity": "ce"]).placesCrop == false)
        #expect(try parse(["width": "10", "height": "10", "gravity": "ce", "x_offset": "2"]).placesCrop)
        #expect(try parse(["width": "10", "gravity": "no"]).placesCrop == false)
        #expect(try parse(["width": "10", "height": "10", "resize": "contain", "gravity": "no"]).placesCrop == false)
        #expect(try parse(["width": "10", "height": "10", "resize": "cover", "gravity": "sm"]).placesCrop)
        // A gravity alone is no transformation: the URL stays a download.
        #expect(try parse(["gravity": "we"]).isEmpty)
    }

    @Test(arguments: [
        (["gravity": "top"], "querystring/gravity must be equal to one of the allowed values"),
        (["gravity": "no", "x_offset": "left"], "querystring/x_offset must be number"),
        (["gravity": "no", "y_offset": "inf"], "querystring/y_offset must be number"),
        (["gravity": "fp", "x_offset": "0.5"], "querystring must have required property 'y_offset'"),
        (["gravity": "fp", "x_offset": "-0.1", "y_offset": "0.5"], "querystring/x_offset must be >= 0"),
        (["gravity": "fp", "x_offset": "0.5", "y_offset": "1.5"], "querystring/y_offset must be <= 1"),
    ])
    func rejectsBadGravity(_ query: [String: String], _ message: String) {
        #expect(throws: StorageError.validation(message)) { try parse(query) }
    }

    @Test func gravityRoundTripsThroughATokenClaim() throws {
        let withOffsets = ImageTransformation(width: 64, height: 32, gravity: .southWest, xOffset: 0.25, yOffset: 12)
        #expect(ImageTransformation.fromTokenClaim(withOffsets.tokenClaim) == withOffsets)
        let focus = ImageTransformation(width: 64, height: 32, gravity: .focusPoint, xOffset: 0.3, yOffset: 0.7)
        #expect(ImageTransformation.fromTokenClaim(focus.tokenClaim) == focus)
        let plain = ImageTransformation(width: 8, gravity: .east)
        #expect(ImageTransformation.fromTokenClaim(plain.tokenClaim) == plain)
        #expect(ImageTransformation.javaScriptNumber(100) == "100")
        #expect(ImageTransformation.javaScriptNumber(-0.5) == "-0.5")
    }

    @Test func tokenClaimsRoundTrip() throws {
        let original = ImageTransformation(width: 64, height: 32, resize: .cover, format: .avif, quality: 70)
        #expect(ImageTransformation.fromTokenClaim(original.tokenClaim, format: "avif") == original)
        let noResize = ImageTransformation(width: 64)
        #expect(ImageTransformation.fromTokenClaim(noResize.tokenClaim) == noResize)
        // Garbage from a token is ignored rather than trusted.
        #expect(ImageTransformation.fromTokenClaim("width:abc,nonsense,height:10") == ImageTransformation())
        #expect(ImageTransformation.fromTokenClaim("width:99999") == ImageTransformation(width: 2000))
    }
}
