import Testing

@testable import StorageCore

@Suite struct BucketNameTests {
    @Test(arguments: ["avatars", "A_b-c.d", "with space", "!*'()&$@=;:+,?", String(repeating: "x", count: 100)])
    func accepts(_ name: String) {
        #expect(BucketName.isValid(name))
    }

    @Test(arguments: ["", "a/b", "pct%20", "hash#", "tilde~", "bracket[", "caf\u{e9}", "tab\t", String(repeating: "x", count: 101)])
    func rejects(_ name: String) {
        #expect(!BucketName.isValid(name))
        #expect(throws: StorageError.invalidBucketName) { try BucketName.validate(name) }
    }

    @Test func creationAlsoRejectsSurroundingSpaces() {
        #expect(BucketName.isValid(" padded "))
        #expect(!BucketName.isValidForCreation(" padded"))
        #expect(!BucketName.isValidForCreation("padded "))
        #expect(BucketName.isValidForCreation("in side"))
    }
}

@Suite struct ObjectKeyTests {
    @Test(arguments: [
        "a", "folder/file.txt", "/leading", "trailing/", "a//b", "a b+c&d=e(f)g:h@i!j'k*l,m;n$o?p", "..", "../../etc/passwd",
    ])
    func accepts(_ key: String) {
        #expect(ObjectKey.isValid(key))
    }

    @Test(arguments: ["", "percent%2F", "hash#", "caf\u{e9}.png", "\u{1F600}", "back\\slash", "nul\u{0}", "new\nline", "pipe|", "tilde~"])
    func rejects(_ key: String) {
        #expect(!ObjectKey.isValid(key))
        #expect(throws: StorageError.invalidKey(key)) { try ObjectKey.validate(key) }
    }

    @Test func invalidKeyMessageNamesTheKey() {
        #expect(StorageError.invalidKey("bad#key").message == "Invalid key: bad#key")
        #expect(StorageError.invalidKey("").message == "Invalid key: ")
    }

    @Test func folderPlaceholders() {
        #expect(ObjectKey.isFolderPlaceholder("photos/.emptyFolderPlaceholder"))
        #expect(!ObjectKey.isFolderPlaceholder("photos/file.png"))
    }
}

@Suite struct OwnerTests {
    @Test func uuidSubjectsFillBothColumns() {
        let owner = Owner(sub: "1B4E28BA-2FA1-41D2-883F-0016D3CCA427")
        #expect(owner.id == "1B4E28BA-2FA1-41D2-883F-0016D3CCA427")
        #expect(owner.uuid == "1b4e28ba-2fa1-41d2-883f-0016d3cca427")
    }

    @Test(arguments: [
        "user-123", "1b4e28ba-2fa1-61d2-883f-0016d3cca427", "1b4e28ba-2fa1-41d2-c83f-0016d3cca427",
        "1b4e28ba2fa141d2883f0016d3cca427", "00000000-0000-0000-0000-000000000000",
    ])
    func otherSubjectsOnlyFillOwnerID(_ sub: String) {
        let owner = Owner(sub: sub)
        #expect(owner.id == sub)
        #expect(owner.uuid == nil)
    }

    @Test func noSubjectNoOwner() {
        let anonymous = Owner(sub: nil)
        #expect(anonymous.id == nil && anonymous.uuid == nil)
        #expect(anonymous != Owner(sub: "user-123"))
    }
}

@Suite struct ObjectLockKeyTests {
    // Reference values from an independent djb2 (h = int32(h * 33) ^ unit over UTF-16), as upstream's JavaScript computes.
    @Test(arguments: [
        ("", UInt32(5381)), ("a", 177_604), ("bucket/name", 2_857_233_763), ("avatars/folder/photo.png", 2_510_152_714),
        ("\u{e9}", 177_484),
    ])
    func matchesUpstream(_ text: String, _ expected: UInt32) {
        #expect(ObjectLockKey.hash(text) == expected)
    }
}

@Suite struct RobotsTagTests {
    @Test(arguments: [
        "none", "noindex, nofollow", "all", "max-snippet: 20", "max-snippet:-1", "max-image-preview: large",
        "max-video-preview: 0", "googlebot: noindex", "googlebot: noindex, nofollow, bingbot: none",
        "unavailable_after: 2026-12-31", "unavailable_after: Wednesday, 03-Nov-21 16:00:00 GMT, noindex",
        "unavailable_after: 25 Jun 2030 15:00:00 GMT",
    ])
    func accepts(_ value: String) throws {
        try RobotsTag.validate(value)
    }

    @Test(arguments: [
        "", "  ", "noindex,,nofollow", "index-me", "max-snippet: lots", "max-snippet: -2", "max-image-preview: huge",
        "max-video-preview:", "unavailable_after: someday", "googlebot:",
    ])
    func rejects(_ value: String) {
        #expect(throws: StorageError.self) { try RobotsTag.validate(value) }
    }

    @Test func errorShape() {
        #expect {
            try RobotsTag.validate("index-me")
        } throws: { error in
            let error = error as! StorageError
            return error.error == "invalid_x_robots_tag" && error.message == "Invalid X-Robots-Tag header: Invalid X-Robots-Tag rule: \"index-me\""
        }
    }

    @Test func keepsCommasInsideDates() {
        #expect(RobotsTag.rules(in: "unavailable_after: Wednesday, 03-Nov-21 16:00:00 GMT, noindex")
            == ["unavailable_after: Wednesday, 03-Nov-21 16:00:00 GMT", "noindex"])
    }
}
