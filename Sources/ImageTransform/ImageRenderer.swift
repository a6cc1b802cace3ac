import CVipsShim
public import NIOCore

/// An image encoding the renderer reads or writes.
public enum ImageFormat: Sendable, Hashable, CaseIterable {
    case jpeg, png, webp, gif, avif, tiff
    /// Read only, and only after `SVGSanitizer`: rasterized by librsvg.
    case svg

    /// The media type of the encoding.
    public var contentType: String {
        switch self {
        case .jpeg: "image/jpeg"
        case .png: "image/png"
        case .webp: "image/webp"
        case .gif: "image/gif"
        case .avif: "image/avif"
        case .tiff: "image/tiff"
        case .svg: "image/svg+xml"
        }
    }

    /// Whether the renderer can write it (TIFF is read only: browsers do not show it; an SVG
    /// is served as its sanitized self, never encoded).
    public var isWritable: Bool { self != .tiff && self != .svg }

    init?(_ format: cvs_format) {
        switch format {
        case CVS_FORMAT_JPEG: self = .jpeg
        case CVS_FORMAT_PNG: self = .png
        case CVS_FORMAT_WEBP: self = .webp
        case CVS_FORMAT_GIF: self = .gif
        case CVS_FORMAT_AVIF: self = .avif
        case CVS_FORMAT_TIFF: self = .tiff
        case CVS_FORMAT_SVG: self = .svg
        default: return nil
        }
    }

    var shimValue: cvs_format {
        switch self {
        case .jpeg: CVS_FORMAT_JPEG
        case .png: CVS_FORMAT_PNG
        case .webp: CVS_FORMAT_WEBP
        case .gif: CVS_FORMAT_GIF
        case .avif: CVS_FORMAT_AVIF
        case .tiff: CVS_FORMAT_TIFF
        case .svg: CVS_FORMAT_SVG
        }
    }
}

/// What the header of a source image says.
public struct SourceImage: Sendable, Hashable {
    public var format: ImageFormat
    public var width: Int
    /// The height of one page (frame).
    public var height: Int
    public var pages: Int

    /// Pixels the decoder would produce for one page.
    public var pixels: Int { width * height }
}

/// How to fit an image into the target box.
public enum ResizeMode: Sendable, Hashable {
    /// Cover the box and crop the overflow around the centre.
    case cover
    /// Fit inside the box, aspect ratio kept.
    case contain
    /// Stretch to the box.
    case fill
}

/// Where a cover crop is cut from.
public enum CropGravity: Sendable, Hashable {
    case centre, north, south, east, west, northEast, northWest, southEast, southWest
    /// The most interesting region (libvips' attention measure); offsets do not apply.
    case smart
    /// Centred on the offsets, fractions of the scaled image.
    case focusPoint
}

/// One render: target box (a nil side follows the aspect ratio; both nil keeps the size),
/// mode, output format and quality.
public struct RenderPlan: Sendable, Hashable {
    public var width: Int?
    public var height: Int?
    public var resize: ResizeMode
    public var format: ImageFormat
    public var quality: Int
    /// Where a cover crop is cut, and the offsets from that edge (pixels, or a fraction of the
    /// scaled image below 1 in magnitude).
    public var gravity: CropGravity
    public var xOffset: Double
    public var yOffset: Double

    public init(
        width: Int?, height: Int?, resize: ResizeMode, format: ImageFormat, quality: Int,
        gravity: CropGravity = .centre, xOffset: Double = 0, yOffset: Double = 0
    ) {
        self.width = width
        self.height = height
        self.resize = resize
        self.format = format
        self.quality = quality
        self.gravity = gravity
        self.xOffset = xOffset
        self.yOffset = yOffset
    }
}

/// An encoded result.
public struct RenderedImage: Sendable {
    public var bytes: ByteBuffer
    public var format: ImageFormat
    public var width: Int
    public var height: Int

    public init(bytes: ByteBuffer, format: ImageFormat, width: Int, height: Int) {
        self.bytes = bytes
        self.format = format
        self.width = width
        self.height = height
    }
}

/// Why an image could not be rendered.
public struct ImageTransformError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable, Hashable {
            case unsupportedSource, sourceTooLarge, renderFailed, overloaded, unavailable
        }
        fileprivate let base: Base
        /// Not an image, or a format or a corruption the decoders refuse.
        public static let unsupportedSource = Code(base: .unsupportedSource)
        /// More pixels (or bytes) than the configured bounds.
        public static let sourceTooLarge = Code(base: .sourceTooLarge)
        /// The decoder or encoder failed on an image it had accepted.
        public static let renderFailed = Code(base: .renderFailed)
        /// Every worker is busy and the queue is full.
        public static let overloaded = Code(base: .overloaded)
        /// The pool is shutting down.
        public static let unavailable = Code(base: .unavailable)
        public var description: String { base.rawValue }
    }

    public let code: Code
    /// The decoder's own words, for logs; never shown to clients.
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }
}

/// An encoded image for libvips: a file, read as it decodes (memory stays small whatever its
/// size), or bytes in memory.
public enum ImageSource: Sendable {
    case file(String)
    case bytes(ByteBuffer)

    func withShimSource<Result>(_ body: (UnsafePointer<cvs_source>) -> Result) -> Result {
        switch self {
        case .file(let path):
            return path.withCString { path in
                var source = cvs_source(path: path, bytes: nil, length: 0)
                return body(&source)
            }
        case .bytes(let bytes):
            return bytes.withUnsafeReadableBytes { raw in
                var source = cvs_source(path: nil, bytes: raw.baseAddress, length: raw.count)
                return body(&source)
            }
        }
    }
}

/// libvips behind the C shim. Every call blocks its thread: run them on a `RenderPool`.
public enum ImageRenderer {
    /// Starts libvips once per process (cache off, one thread per call, untrusted loaders blocked).
    /// Returns false when libvips cannot start.
    public static let initialized: Bool = cvs_initialize() == 0

    /// Reads the header of `source` (no pixels are decoded).
    public static func probe(_ source: ImageSource) throws(ImageTransformError) -> SourceImage {
        var format = CVS_FORMAT_UNSUPPORTED
        var width: Int32 = 0, height: Int32 = 0, pages: Int32 = 0
        let status = source.withShimSource { cvs_probe($0, &format, &width, &height, &pages) }
        guard status == 0, let imageFormat = ImageFormat(format) else {
            throw ImageTransformError(.unsupportedSource, takeError() ?? "unknown format")
        }
        return SourceImage(format: imageFormat, width: Int(width), height: Int(height), pages: Int(pages))
    }

    /// Decodes `source` with shrink-on-load, resizes per `plan` and encodes.
    public static func render(_ source: ImageSource, plan: RenderPlan) throws(ImageTransformError) -> RenderedImage {
        guard plan.format.isWritable else { throw ImageTransformError(.renderFailed, "cannot write \(plan.format)") }
        var options = cvs_render_options(
            width: Int32(clamping: plan.width ?? 0), height: Int32(clamping: plan.height ?? 0),
            resize: plan.resize.shimValue, format: plan.format.shimValue, quality: Int32(clamping: plan.quality),
            gravity: plan.gravity.shimValue, x_offset: plan.xOffset, y_offset: plan.yOffset)
        var output: UnsafeMutableRawPointer?
        var length = 0
        var width: Int32 = 0, height: Int32 = 0
        let status = source.withShimSource { cvs_render($0, &options, &output, &length, &width, &height) }
        guard status == 0, let output else {
            // A decoder's complaint means a broken source; the encoders do not fail on good pixels.
            throw ImageTransformError(.unsupportedSource, takeError() ?? "render failed")
        }
        defer { cvs_free(output) }
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        buffer.writeBytes(UnsafeRawBufferPointer(start: output, count: length))
        return RenderedImage(bytes: buffer, format: plan.format, width: Int(width), height: Int(height))
    }

    private static func takeError() -> String? {
        guard let text = cvs_take_error() else { return nil }
        defer { cvs_free(text) }
        let message = String(cString: text).split(separator: "\n").joined(separator: "; ")
        return message.isEmpty ? nil : message
    }
}

extension ResizeMode {
    var shimValue: cvs_resize {
        switch self {
        case .cover: CVS_RESIZE_COVER
        case .contain: CVS_RESIZE_CONTAIN
        case .fill: CVS_RESIZE_FILL
        }
    }
}

extension CropGravity {
    var shimValue: cvs_gravity {
        switch self {
        case .centre: CVS_GRAVITY_CENTRE
        case .north: CVS_GRAVITY_NORTH
        case .south: CVS_GRAVITY_SOUTH
        case .east: CVS_GRAVITY_EAST
        case .west: CVS_GRAVITY_WEST
        case .northEast: CVS_GRAVITY_NORTH_EAST
        case .northWest: CVS_GRAVITY_NORTH_WEST
        case .southEast: CVS_GRAVITY_SOUTH_EAST
        case .southWest: CVS_GRAVITY_SOUTH_WEST
        case .smart: CVS_GRAVITY_SMART
        case .focusPoint: CVS_GRAVITY_FOCUS_POINT
        }
    }
}
