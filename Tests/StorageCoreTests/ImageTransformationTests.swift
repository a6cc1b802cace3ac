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
