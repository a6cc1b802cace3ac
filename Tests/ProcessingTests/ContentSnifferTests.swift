import Testing

@testable import Processing

/// `sniff-mime`: the first bytes against the declared type and the bucket's allowed types.
struct ContentSnifferTests {
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8)
    static let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0, 16] + Array("JFIF".utf8)
    static let pdf = Array("%PDF-1.7\n%\u{E2}\u{E3}".utf8)
    static let zip: [UInt8] = [0x50, 0x4B, 0x03, 0x04, 20, 0, 0, 0]
    static let elf: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0]
    static let exe: [UInt8] = Array("MZ".utf8) + [0x90, 0, 3, 0]
    static let mp4: [UInt8] = [0, 0, 0, 0x20] + Array("ftypisom".utf8) + [0, 0, 2, 0]
    static let webp: [UInt8] = Array("RIFF".utf8) + [0x24, 0, 0, 0] + Array("WEBPVP8 ".utf8)

    @Test(arguments: [
        (png, ContentSniffer.Content.format("image/png")), (jpeg, .format("image/jpeg")), (pdf, .format("application/pdf")),
        (zip, .format("application/zip")), (elf, .format("application/x-executable")),
        (exe, .format("application/x-msdownload")), (mp4, .format("video/mp4")), (webp, .format("image/webp")),
        (Array("GIF89a\u{1}\u{0}".utf8), .format("image/gif")),
        (Array("hello, world\nsecond line\té".utf8), .text),
        (Array("<!DOCTYPE html><html><body>x</body></html>".utf8), .markup("text/html")),
        (Array("  <div><script>alert(1)</script></div>".utf8), .markup("text/html")),
        (Array("<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>".utf8), .markup("image/svg+xml")),
        (Array("<?xml version=\"1.0\"?><note/>".utf8), .markup("application/xml")),
        ([0x00, 0x13, 0x37, 0xFE, 0x01, 0x02], .unknown),
        ([], .unknown),
    ] as [([UInt8], ContentSniffer.Content)])
    func signaturesAreRecognised(bytes: [UInt8], expected: ContentSniffer.Content) {
        #expect(ContentSniffer.content(of: bytes) == expected)
    }

    @Test func aCharacterCutByThePrefixIsStillText() {
        var bytes = Array(repeating: UInt8(ascii: "a"), count: ContentSniffer.prefixLength - 1) + Array("é".utf8)
        #expect(ContentSniffer.content(of: bytes) == .text)
        bytes = Array(repeating: UInt8(ascii: "a"), count: 10) + [0xC3]
        #expect(ContentSniffer.content(of: bytes) == .text)
        // Invalid UTF-8 in the middle is not text.
        #expect(ContentSniffer.content(of: [0x61, 0xC3, 0x28, 0x61]) == .unknown)
    }

    @Test(arguments: [
        ("image/png", png, nil as [String]?, true),
        ("image/png;charset=binary", png, nil, true),
        ("image/jpg", jpeg, nil, true),
        ("application/octet-stream", png, nil, true),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", zip, nil, true),
        ("text/csv", Array("a,b\n1,2\n".utf8), nil, true),
        ("application/json", Array("{\"a\": 1}".utf8), nil, true),
        ("image/svg+xml", Array("<svg xmlns='http://www.w3.org/2000/svg'/>".utf8), nil, true),
        ("text/html", Array("<html><body>hi</body></html>".utf8), nil, true),
        ("application/x-custom", [0x00, 0x13, 0x37], nil, true),
        // Refused: the bytes are something else.
        ("image/png", jpeg, nil, false),
        ("image/png", elf, nil, false),
        ("application/pdf", exe, nil, false),
        ("image/jpeg", Array("just text".utf8), nil, false),
        ("image/png", Array("<html><script>alert(1)</script></html>".utf8), nil, false),
        ("text/plain", Array("<svg onload=alert(1) xmlns='http://www.w3.org/2000/svg'/>".utf8), nil, false),
        // Refused: an octet-stream upload of a format the bucket does not allow.
        ("application/octet-stream", exe, ["image/*"], false),
        ("application/octet-stream", png, ["image/*"], true),
    ] as [(String, [UInt8], [String]?, Bool)])
    func judgement(declared: String, bytes: [UInt8], allowed: [String]?, passes: Bool) {
        let outcome = ContentSniffer.judge(declared: declared, content: ContentSniffer.content(of: bytes), allowed: allowed)
        let passed: Bool
        switch outcome {
        case .passed: passed = true
        case .rejected, .failed: passed = false
        }
        #expect(passed == passes, "\(outcome)")
    }

    @Test func theRejectionSaysWhatTheContentIs() {
        #expect(ContentSniffer.judge(declared: "image/png", content: .format("application/x-executable"), allowed: nil)
            == .rejected(reason: "the content is application/x-executable, not image/png"))
    }
}
