import Foundation
import NIOCore
import Testing

@testable import ImageTransform

@Suite struct RenderAdmissionTests {
    @Test func runsThenQueuesThenRefuses() {
        var admission = RenderAdmission(workers: 2, queueCapacity: 1)
        #expect(admission.arrive() == .run)
        #expect(admission.arrive() == .run)
        #expect(admission.arrive() == .wait)
        #expect(admission.arrive() == .refuse)
        #expect((admission.running, admission.waiting) == (2, 1))
    }

    @Test func departuresHandOverToWaitersFirst() {
        var admission = RenderAdmission(workers: 1, queueCapacity: 2)
        #expect(admission.arrive() == .run)
        #expect(admission.arrive() == .wait)
        #expect(admission.arrive() == .wait)
        #expect(admission.depart() == true)
        #expect((admission.running, admission.waiting) == (1, 1))
        #expect(admission.arrive() == .wait)
        #expect(admission.depart() == true)
        #expect(admission.depart() == true)
        #expect(admission.depart() == false)
        #expect((admission.running, admission.waiting) == (0, 0))
        #expect(admission.arrive() == .run)
    }

    @Test func noQueueMeansRefuseWhenBusy() {
        var admission = RenderAdmission(workers: 1, queueCapacity: 0)
        #expect(admission.arrive() == .run)
        #expect(admission.arrive() == .refuse)
    }
}

@Suite struct RenderPoolTests {
    @Test func boundsConcurrencyAndSheds() async throws {
        let pool = RenderPool(workers: 2, queueCapacity: 3)
        let active = Counter()
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    do {
                        try await pool.withSlot { blocking in
                            let now = active.change(by: 1)
                            #expect(now <= 2)
                            _ = try await blocking.run { usleep(20_000) }
                            active.change(by: -1)
                        }
                        return true
                    } catch let error as ImageTransformError {
                        #expect(error.code == .overloaded)
                        return false
                    } catch {
                        Issue.record("unexpected \(error)")
                        return false
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count >= 5)
        #expect(outcomes.contains(false))
        #expect(pool.load == (0, 0))
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    @discardableResult func change(by delta: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += delta
        return value
    }
}

@Suite struct ImageRendererTests {
    /// A 64×48 PNG with blue stripes on red.
    static let png = ByteBuffer(bytes: Data(base64Encoded:
        "iVBORw0KGgoAAAANSUhEUgAAAEAAAAAwCAIAAAAuKetIAAAAXklEQVR4nO3PMQ2AMAAAwYIQsIH/CRtgBARUwKfJ3fjbb2N893GOyfU+S/R9TmsxUDNQM1AzUDNQM1AzUDNQM1AzUDNQM1AzUDNQM1AzUDNQM1AzUDNQM1AzUDNQ+wHXyxdkL49BegAAAABJRU5ErkJggg=="
    )!)

    init() { #expect(ImageRenderer.initialized) }

    @Test func probesTheHeader() throws {
        let source = try ImageRenderer.probe(.bytes(Self.png))
        #expect(source == SourceImage(format: .png, width: 64, height: 48, pages: 1))
    }

    @Test(arguments: [
        (ResizeMode.cover, 32, 32, 32, 32),
        (.contain, 32, 32, 32, 24),
        (.fill, 32, 32, 32, 32),
        (.cover, 16, 0, 16, 12),
        (.cover, 0, 0, 64, 48),
        (.contain, 640, 480, 64, 48),
    ])
    func rendersGeometry(_ resize: ResizeMode, _ width: Int, _ height: Int, _ outWidth: Int, _ outHeight: Int) throws {
        let plan = RenderPlan(width: width == 0 ? nil : width, height: height == 0 ? nil : height,
                              resize: resize, format: .webp, quality: 80)
        let rendered = try ImageRenderer.render(.bytes(Self.png), plan: plan)
        #expect((rendered.width, rendered.height) == (outWidth, outHeight))
        #expect(try ImageRenderer.probe(.bytes(rendered.bytes)) == SourceImage(format: .webp, width: outWidth, height: outHeight, pages: 1))
    }

    @Test(arguments: [ImageFormat.jpeg, .png, .webp, .gif, .avif])
    func encodesEveryWritableFormat(_ format: ImageFormat) throws {
        let rendered = try ImageRenderer.render(.bytes(Self.png), plan: RenderPlan(width: 20, height: nil, resize: .cover, format: format, quality: 50))
        #expect(try ImageRenderer.probe(.bytes(rendered.bytes)).format == format)
    }

    @Test func refusesWhatIsNotAnImage() {
        #expect(throws: ImageTransformError.self) { try ImageRenderer.probe(.bytes(ByteBuffer(string: "hello, not an image"))) }
        var truncated = Self.png
        truncated.moveWriterIndex(to: 60)
        #expect(throws: ImageTransformError.self) {
            try ImageRenderer.render(.bytes(truncated), plan: RenderPlan(width: 10, height: nil, resize: .cover, format: .png, quality: 80))
        }
        #expect(throws: ImageTransformError.self) { try ImageRenderer.probe(.bytes(ByteBuffer())) }
    }

    /// 40×10, four 10 px columns: red, green, blue, white (left to right).
    static let columns = image("iVBORw0KGgoAAAANSUhEUgAAACgAAAAKCAIAAABJ+IsHAAAAH0lEQVR42mP4z8CABzFQII0fMIxaPGrxqMWjFpNrMQC+mVXHph2cqwAAAABJRU5ErkJggg==")
    /// 10×40, four 10 px rows: red, green, blue, white (top to bottom).
    static let rows = image("iVBORw0KGgoAAAANSUhEUgAAAAoAAAAoCAIAAABINPzXAAAAIUlEQVR42mP4z8CABzGMSmOVHg2X0WCjl/R/vGBUGisAANqTVcfLVRbsAAAAAElFTkSuQmCC")
    /// 10×10 squares of one colour each.
    static let squares: [String: ByteBuffer] = [
        "red": image("iVBORw0KGgoAAAANSUhEUgAAAAoAAAAKCAIAAAACUFjqAAAAEklEQVR42mP4z8CABzGMSmNDALfKY53W1e90AAAAAElFTkSuQmCC"),
        "green": image("iVBORw0KGgoAAAANSUhEUgAAAAoAAAAKCAIAAAACUFjqAAAAEUlEQVR42mNg+M+AD41KY0MAVC5jnQLZ8LkAAAAASUVORK5CYII="),
        "blue": image("iVBORw0KGgoAAAANSUhEUgAAAAoAAAAKCAIAAAACUFjqAAAAEUlEQVR42mNgYPiPF41KY0EA8INjndXmqyIAAAAASUVORK5CYII="),
        "white": image("iVBORw0KGgoAAAANSUhEUgAAAAoAAAAKCAIAAAACUFjqAAAAEElEQVR42mP4jxcwjEpjAwD6Hirkf4B3HgAAAABJRU5ErkJggg=="),
    ]

    static func image(_ base64: String) -> ByteBuffer { ByteBuffer(bytes: Data(base64Encoded: base64)!) }

    /// The crop a gravity cuts from a 40×10 or 10×40 strip, checked against the solid square of
    /// the colour it must show: the same pixels through the same encoder give the same bytes.
    @Test(arguments: [
        ("columns", CropGravity.west, 0.0, 0.0, "red"),
        ("columns", .east, 0, 0, "white"),
        ("columns", .west, 10, 0, "green"),
        ("columns", .east, 10, 0, "blue"),
        ("columns", .west, 0.25, 0, "green"),  // below 1: a fraction of the width
        ("columns", .centre, -5, 0, "green"),  // (40 - 10 + 1) / 2 - 5 = 10
        ("columns", .east, 100, 0, "red"),  // pushed past the edge: kept inside the image
        ("columns", .east, 1e300, 0, "red"),  // any number a client sends: bounded, never undefined
        ("columns", .centre, 1e300, 0, "white"),
        ("columns", .west, -1e300, 0, "red"),
        ("columns", .northEast, 0, 0, "white"),
        ("columns", .focusPoint, 0.625, 0.5, "blue"),
        ("rows", .north, 0, 0, "red"),
        ("rows", .south, 0, 0, "white"),
        ("rows", .south, 0, 10, "blue"),
        ("rows", .southWest, 0, -0.25, "white"),  // negative offsets move the other way, then clamp
        ("rows", .northWest, 0, 20, "blue"),
    ])
    func gravityPlacesTheCoverCrop(_ source: String, _ gravity: CropGravity, _ x: Double, _ y: Double, _ colour: String) throws {
        let strip = source == "columns" ? Self.columns : Self.rows
        let plan = RenderPlan(width: 10, height: 10, resize: .cover, format: .png, quality: 80, gravity: gravity, xOffset: x, yOffset: y)
        let cut = try ImageRenderer.render(.bytes(strip), plan: plan)
        #expect((cut.width, cut.height) == (10, 10))
        let square = try ImageRenderer.render(
            .bytes(Self.squares[colour]!), plan: RenderPlan(width: nil, height: nil, resize: .cover, format: .png, quality: 80))
        #expect(cut.bytes == square.bytes, "\(source) \(gravity) \(x),\(y) is not \(colour)")
    }

    /// A cover crop scales first: a 20×5 box over the 40×10 columns halves it, and gravity cuts
    /// the scaled image (west: the red and green columns at 5 px each).
    @Test func gravityCutsTheScaledImage() throws {
        let west = try ImageRenderer.render(
            .bytes(Self.columns), plan: RenderPlan(width: 10, height: 5, resize: .cover, format: .png, quality: 80, gravity: .west))
        let east = try ImageRenderer.render(
            .bytes(Self.columns), plan: RenderPlan(width: 10, height: 5, resize: .cover, format: .png, quality: 80, gravity: .east))
        #expect((west.width, west.height) == (10, 5))
        #expect((east.width, east.height) == (10, 5))
        #expect(west.bytes != east.bytes)
        let smart = try ImageRenderer.render(
            .bytes(Self.columns), plan: RenderPlan(width: 10, height: 10, resize: .cover, format: .png, quality: 80, gravity: .smart))
        #expect((smart.width, smart.height) == (10, 10))
    }

    /// A file source decodes the same as bytes in memory (renders spool large sources to disk).
    @Test(arguments: [ImageFormat.png, .jpeg, .webp, .gif, .avif])
    func filesRenderLikeBytes(_ format: ImageFormat) throws {
        let encoded = try ImageRenderer.render(.bytes(Self.png), plan: RenderPlan(width: nil, height: nil, resize: .cover, format: format, quality: 90))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("render-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(encoded.bytes.readableBytesView)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try ImageRenderer.probe(.file(path)) == SourceImage(format: format, width: 64, height: 48, pages: 1))
        let rendered = try ImageRenderer.render(.file(path), plan: RenderPlan(width: 16, height: 16, resize: .cover, format: .png, quality: 80))
        #expect((rendered.width, rendered.height) == (16, 16))
        // The sniffer, given the first bytes only, agrees with libvips.
        #expect(ImageSniffer.format(of: encoded.bytes.readableBytesView.prefix(ImageSniffer.prefixLength)) == format)
    }

    @Test func theSnifferRefusesWhatIsNotAnImage() {
        for text in ["", "hello, not an image", "<svg xmlns='http://www.w3.org/2000/svg'/>", "%PDF-1.7", "RIFF\0\0\0\0WAVE", "\0\0\0\u{18}ftypmp42"] {
            #expect(ImageSniffer.format(of: Array(text.utf8)) == nil, "\(text)")
        }
        #expect(ImageSniffer.format(of: [0xFF, 0xD8]) == nil)  // too short to tell
        #expect(ImageSniffer.format(of: [0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8]) == .tiff)
        #expect(ImageSniffer.format(of: Array("\0\0\0\u{1C}ftypheic".utf8)) == .avif)
    }
}
