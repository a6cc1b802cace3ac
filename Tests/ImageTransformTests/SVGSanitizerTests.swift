import Foundation
import NIOCore
import Testing

@testable import ImageTransform

@Suite struct SVGSanitizerTests {
    func clean(_ svg: String) throws -> String {
        String(decoding: try SVGSanitizer.sanitize(Array(svg.utf8)), as: UTF8.self)
    }

    @Test func keepsDrawing() throws {
        let svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- made by hand -->
            <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="40" height="20" viewBox="0 0 40 20">
              <defs><linearGradient id="g"><stop offset="0" stop-color="#f00"/></linearGradient></defs>
              <rect width="20" height="20" fill="url(#g)" style="stroke: url( '#g' )"/>
              <use xlink:href="#g" href="#g"/>
              <text x="1" y="10">AT&amp;T &lt;3 &#x263A; R&D &T;</text>
              <style><![CDATA[rect { fill: #00f }]]></style>
            </svg>
            """
        #expect(try clean(svg) == """
            <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="40" height="20" viewBox="0 0 40 20">
              <defs><linearGradient id="g"><stop offset="0" stop-color="#f00"/></linearGradient></defs>
              <rect width="20" height="20" fill="url(#g)" style="stroke: url( '#g' )"/>
              <use xlink:href="#g" href="#g"/>
              <text x="1" y="10">AT&amp;T &lt;3 \u{263A} R&amp;D </text>
              <style>rect { fill: #00f }</style>
            </svg>
            """)
    }

    @Test func removesWhatRunsOrLeavesTheDocument() throws {
        let svg = """
            <!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
            <?xml-stylesheet href="https://evil.example/x.css"?>
            <svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)" xml:base="file:///">
            <script>alert(1)</script><script/>
            <foreignObject><div xmlns="http://www.w3.org/1999/xhtml"><iframe src="https://evil.example"/></div></foreignObject>
            <a href="javascript:alert(1)"><rect width="1" height="1" onclick="x()" ONMOUSEOVER="y()"/></a>
            <a xlink:href="&#106;avascript:alert(1)">link</a>
            <image href="https://evil.example/p.png" width="10" height="10"/>
            <image href="/etc/passwd"/><image href="data:image/png;base64,AAAA"/>
            <use href="other.svg#x"/>
            <rect fill="url(https://evil.example/#g)" style="fill:url(file:///etc/passwd)" filter="u\\72l(x)"/>
            <set attributeName="href" to="javascript:alert(1)"/><animate attributeName="x" values="1;2"/>
            <style>@import url(https://evil.example/a.css); rect { fill: red }</style>
            <style>rect { background: url(https://evil.example/x) }</style>
            <svg:script xmlns:svg="http://www.w3.org/2000/svg">alert(1)</svg:script>
            <text>&xxe;</text>
            </svg>
            """
        let result = try clean(svg)
        for banned in ["script", "alert", "onload", "onclick", "onmouseover", "ONMOUSEOVER", "foreignObject", "iframe",
                       "evil", "passwd", "javascript", "data:", "other.svg", "xml:base", "<set", "<animate", "@import",
                       "xxe", "DOCTYPE", "xml-stylesheet", "u\\72l"] {
            #expect(!result.contains(banned), "\(banned) survived: \(result)")
        }
        // What draws stays.
        #expect(result.contains(#"<rect width="1" height="1"/>"#))
        #expect(result.contains("<a>link</a>"))
        #expect(result.contains("<style></style>"))
    }

    @Test(arguments: [
        "", "not xml at all", "<html><body/></html>", "<svg><g></svg>", "<svg><rect width=\"1></svg>",
        "<svg></g>", "<svg><rect width=1/></svg>", "<svg/><svg/>", "<svg><!-- open </svg>",
        "\u{FEFF}<svg", "<svg><rect x=\"<\"/></svg>",
    ])
    func refusesWhatIsNotAWellFormedSVG(_ text: String) {
        #expect(throws: ImageTransformError.self) { try SVGSanitizer.sanitize(Array(text.utf8)) }
    }

    /// Sanitized, an SVG rasterizes through librsvg at the asked size.
    @Test func rasterizesTheSanitizedDocument() throws {
        #expect(ImageRenderer.initialized)
        let svg = #"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><rect width="100" height="100" fill="red"/><script>x</script></svg>"#
        let clean = ByteBuffer(bytes: try SVGSanitizer.sanitize(Array(svg.utf8)))
        #expect(try ImageRenderer.probe(.bytes(clean)) == SourceImage(format: .svg, width: 200, height: 100, pages: 1))
        let rendered = try ImageRenderer.render(
            .bytes(clean), plan: RenderPlan(width: 50, height: nil, resize: .cover, format: .png, quality: 80))
        #expect((rendered.width, rendered.height, rendered.format) == (50, 25, .png))
        #expect(try ImageRenderer.probe(.bytes(rendered.bytes)).format == .png)
    }
}
