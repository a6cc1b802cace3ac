import Testing

@testable import StorageCore

@Suite struct FileSizeLimitTests {
    @Test(arguments: [
        ("20mb", Int64(20_000_000)), ("20MB", 20_000_000), ("1.2345MB", 1_230_000), ("1GB", 1_000_000_000),
        ("30KB", 30_000), ("3B", 3), ("0B", 0), ("1500MB", 1_500_000_000), ("999.5kb", 1_000_000), ("1024", 1024),
    ])
    func parses(_ text: String, _ bytes: Int64) throws {
        #expect(try FileSizeLimit.parse(text) == bytes)
    }

    @Test(arguments: ["", "20 MB", "MB", "-1MB", "1.MB", ".5MB", "1e3MB", "20TB", "twentyMB", "1.2.3MB"])
    func rejects(_ text: String) {
        #expect(throws: StorageError.invalidRequest("Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B")) {
            try FileSizeLimit.parse(text)
        }
    }

    @Test func roundsToThreeSignificantDigits() {
        #expect(FileSizeLimit.roundedToThreeSignificantDigits(1.2345) == 1.23)
        #expect(FileSizeLimit.roundedToThreeSignificantDigits(123_456) == 123_000)
        #expect(FileSizeLimit.roundedToThreeSignificantDigits(0.0012345) == 0.00123)
        #expect(FileSizeLimit.roundedToThreeSignificantDigits(0) == 0)
    }
}

@Suite struct AllowedMimeTypesTests {
    @Test func emptyOrMissingListAllowsAll() {
        #expect(AllowedMimeTypes.allows("application/pdf", in: nil))
        #expect(AllowedMimeTypes.allows("application/pdf", in: []))
    }

    @Test(arguments: [
        ("image/png", ["image/png"], true),
        ("image/jpeg", ["image/*"], true),
        ("image/jpeg", ["image/png", "text/*"], false),
        ("text/csv", ["image/png", "text/*"], true),
        ("Image/png", ["image/png"], false),
        ("text/plain;charset=UTF-8", ["text/plain"], false),
        ("text/plain;charset=UTF-8", ["text/*"], true),
        ("anything/at-all", ["*/*"], false),
        ("nosubtype", ["nosubtype/*"], false),
        // A type is type/subtype plus parameters, nothing more.
        ("image/png/x", ["image/png"], false),
        ("image/png/x", ["image/*"], false),
        ("image/png ", ["image/png"], false),
    ])
    func matching(_ type: String, _ allowed: [String], _ expected: Bool) {
        #expect(AllowedMimeTypes.allows(type, in: allowed) == expected)
    }

    @Test func rejectionNamesTheType() {
        #expect(throws: StorageError.invalidMimeType("application/pdf")) {
            try AllowedMimeTypes.check("application/pdf", in: ["image/png"])
        }
        #expect(StorageError.invalidMimeType("application/pdf").message == "mime type application/pdf is not supported")
    }

    @Test(arguments: ["image/png", "image/*", "text/plain;charset=utf-8", "application/vnd.api+json", "*/*"])
    func validEntries(_ entry: String) throws {
        try AllowedMimeTypes.validate([entry])
    }

    @Test(arguments: [
        "", "image", "image/", "/png", "image/png/extra", "im age/png", "*", "video*", "image/png/*",
        String(repeating: "a", count: 1001) + "/x",
    ])
    func invalidEntries(_ entry: String) {
        #expect(throws: StorageError.invalidMimeType(entry)) { try AllowedMimeTypes.validate([entry]) }
    }
}

@Suite struct MediaTypeTests {
    @Test(arguments: [
        "image/png", "text/plain;charset=UTF-8", "text/plain; charset=\"utf-8\"", "text/x-c++src", "application/vnd.ms-excel",
        "image/svg+xml", "multipart/form-data; boundary=x/y", "text/plain ; q=1",
    ])
    func valid(_ value: String) {
        #expect(MediaType.isValid(value))
    }

    @Test(arguments: [
        "", "png", "image/", "/png", "image/png/x", "image/p ng", "image/png\u{7f}", "image/png;\n", "image/p\u{e9}ng",
        "text/plain;\u{0}", "image/png x",
    ])
    func invalid(_ value: String) {
        #expect(!MediaType.isValid(value))
        #expect(throws: StorageError.invalidMimeType(value)) { try MediaType.validate(value) }
    }
}

@Suite struct StoredHeadersTests {
    @Test(arguments: [
        "no-cache", "max-age=3600", "public, max-age=0, s-maxage=60", "max-stale", "max-age = 10", "foo=bar=baz",
        "private, community=\"UCI\"",
    ])
    func accepted(_ cacheControl: String) throws {
        try StoredHeaders.validate(contentType: "text/plain", cacheControl: cacheControl)
    }

    @Test(arguments: ["max-age=max-age=1", "max-age=x y", "public, s-maxage=-1", "max-age=", "max-age=1.5", "3600\u{0f}"])
    func refused(_ cacheControl: String) {
        #expect(throws: StorageError.self) {
            try StoredHeaders.validate(contentType: "text/plain", cacheControl: cacheControl)
        }
    }
}
