public import Foundation
import ImageTransform
import Logging
import NIOCore
public import ObjectStore
public import StorageCore
import Telemetry
import Tracing

/// Settings of the render routes (contract §5.10).
public struct RenderSettings: Sendable {
    /// Width and height clamp.
    public var limits: ImageTransformation.Limits
    /// Sources with more pixels per page are refused (contract §5.10: 50 megapixels).
    public var maximumSourcePixels: Int
    /// Whether rendered variants are kept in the backend and served from there.
    public var cacheEnabled: Bool
    /// The most bytes of variants kept, over every replica (`IMAGE_TRANSFORMATION_CACHE_MAX_BYTES`);
    /// the least recently used go first.
    public var cacheMaximumBytes: Int64

    public init(
        limits: ImageTransformation.Limits = ImageTransformation.Limits(), maximumSourcePixels: Int = 50_000_000,
        cacheEnabled: Bool = true, cacheMaximumBytes: Int64 = 1 << 30
    ) {
        self.limits = limits
        self.maximumSourcePixels = maximumSourcePixels
        self.cacheEnabled = cacheEnabled
        self.cacheMaximumBytes = cacheMaximumBytes
    }
}

/// A rendered variant ready to send.
public struct RenderedObject: Sendable {
    /// The source object's row (its ETag and Cache-Control travel with the variant).
    public var object: ObjectRecord
    public var body: ByteStream
    public var contentLength: Int64
    public var contentType: String
    public var lastModified: Date
    /// Whether the variant came from the backend rather than from libvips.
    public var cacheHit: Bool
    /// True when the format followed the `Accept` header (responses then vary by it).
    public var negotiated: Bool
}

/// The output format a request settles on before anything is decoded: an explicit format, the
/// client's `Accept`, or the source's own.
enum RenderFormatChoice: String, Sendable {
    case origin, webp, avif

    /// WebP is preferred to AVIF when a client takes both: AVIF encodes 5–10 times slower here.
    static func resolve(_ format: ImageTransformation.Format?, accept: String?) -> (RenderFormatChoice, negotiated: Bool) {
        switch format {
        case .webp?: return (.webp, false)
        case .avif?: return (.avif, false)
        case .origin?: return (.origin, false)
        case nil:
            let accepted = (accept ?? "").lowercased()
            if accepted.contains("image/webp") { return (.webp, true) }
            if accepted.contains("image/avif") { return (.avif, true) }
            return (.origin, true)
        }
    }

    func outputFormat(source: ImageFormat) -> ImageFormat {
        switch self {
        case .webp: .webp
        case .avif: .avif
        case .origin: source.isWritable ? source : .png
        }
    }
}

extension StorageService {
    /// The default encoder quality (imgproxy's).
    static let defaultRenderQuality = 80

    /// Renders a readable object (contract §5.10): found with the same access rules as a download,
    /// served from the variant cache when present, otherwise decoded and encoded on the bounded
    /// worker pool. Cache hits never wait for a worker.
    public func render(
        bucketID: String, name: String, caller: Caller, access: ReadAccess, operation: StorageOperation,
        transformation: ImageTransformation, accept: String?
    ) async throws -> RenderedObject {
        guard let images else { throw StorageError.renderingDisabled }
        let logger = caller.logger
        let object = try await findObject(
            bucketID: bucketID, name: name, caller: caller, access: access, operation: operation)
        // An SVG without an explicit raster format is served as its sanitized self, whatever the
        // client accepts (as upstream's imgproxy does); with one, it is rasterized.
        let svg = Self.isSVG(object)
        let (choice, negotiated) = svg && transformation.format == nil
            ? (RenderFormatChoice.origin, false) : RenderFormatChoice.resolve(transformation.format, accept: accept)
        let quality = transformation.quality ?? Self.defaultRenderQuality
        let cacheKey = isRenderCacheable(object)
            ? renderPrefix(object) + "/" + Self.variantName(transformation, choice: choice, quality: quality) : nil

        if let cacheKey, let cached = try? await store.getObject(cacheKey, conditions: ReadConditions(), logger: logger) {
            ServiceMetrics.render(.cacheHit)
            do {
                try await database.touchRenderVariant(cacheKey, logger: logger)
            } catch {
                logger.warning("could not mark a rendered variant used", metadata: ["error": "\(String(reflecting: error))"])
            }
            return RenderedObject(
                object: object, body: cached.body, contentLength: cached.info.size,
                contentType: cached.info.contentType ?? "application/octet-stream", lastModified: cached.info.lastModified,
                cacheHit: true, negotiated: negotiated)
        }
        if let size = object.objectMetadata?.size, size > settings.uploadFileSizeLimit {
            throw StorageError.sourceFileTooLarge
        }

        let sourceKey = backendKey(object)
        let maximumPixels = settings.render.maximumSourcePixels
        let limit = settings.uploadFileSizeLimit
        let rendered: RenderedImage
        do {
            // The span covers the wait for a worker too: a busy pool shows as a long render.
            rendered = try await Telemetry.withSpan("image.render", logger: logger) { span in
                let rendered = try await images.withSlot { blocking in
                    let source: ImageSource
                    var spooled: String?
                    defer { if let spooled { try? FileManager.default.removeItem(atPath: spooled) } }
                    if svg {
                        let document = try await readSVG(sourceKey, name: name, logger: logger)
                        let clean = ByteBuffer(bytes: try await blocking.run { try SVGSanitizer.sanitize(document.readableBytesView) })
                        if choice == .origin { return RenderedImage(bytes: clean, format: .svg, width: 0, height: 0) }
                        source = .bytes(clean)
                    } else {
                        let path = try await spool(sourceKey, name: name, limit: limit, blocking: blocking, logger: logger)
                        spooled = path
                        source = .file(path)
                    }
                    let image = try await blocking.run { try ImageRenderer.probe(source) }
                    guard image.pixels <= maximumPixels else {
                        throw ImageTransformError(.sourceTooLarge, "\(image.width)x\(image.height)")
                    }
                    let plan = RenderPlan(
                        width: transformation.width, height: transformation.height,
                        resize: Self.resizeMode(transformation.resize), format: choice.outputFormat(source: image.format),
                        quality: quality, gravity: Self.cropGravity(transformation),
                        xOffset: transformation.xOffset ?? 0, yOffset: transformation.yOffset ?? 0)
                    return try await blocking.run { try ImageRenderer.render(source, plan: plan) }
                }
                span.attributes["image.format"] = rendered.format.contentType
                span.attributes["image.width"] = rendered.width
                span.attributes["image.height"] = rendered.height
                return rendered
            }
        } catch let error as ImageTransformError {
            logger.info("render refused", metadata: ["object": "\(bucketID)/\(name)", "reason": "\(error)"])
            ServiceMetrics.render(error.code == .overloaded ? .overloaded : .refused)
            throw Self.renderFailure(error)
        }

        ServiceMetrics.render(.rendered)
        let lastModified = Date()
        if let cacheKey { await keepVariant(rendered, at: cacheKey, logger: logger) }
        let bytes = rendered.bytes
        return RenderedObject(
            object: object, body: ByteStream.single(bytes), contentLength: Int64(bytes.readableBytes),
            contentType: rendered.format.contentType, lastModified: lastModified, cacheHit: false, negotiated: negotiated)
    }

    /// Stores a variant and records its size; evicts what the cache bound no longer holds.
    private func keepVariant(_ rendered: RenderedImage, at key: String, logger: Logger) async {
        let size = Int64(rendered.bytes.readableBytes)
        // A variant bigger than the whole cache would only evict everything else.
        guard size <= settings.render.cacheMaximumBytes else { return }
        do {
            _ = try await store.putObject(
                key, body: ByteStream.single(rendered.bytes), contentLength: size,
                contentType: rendered.format.contentType, cacheControl: "no-cache", logger: logger)
        } catch {
            logger.warning("could not keep a rendered variant", metadata: ["key": "\(key)", "error": "\(error)"])
            return
        }
        do {
            let evicted = try await database.recordRenderVariant(
                key, bytes: size, maximumBytes: settings.render.cacheMaximumBytes, logger: logger)
            await janitor.discard(evicted.map { .object($0) }, logger: logger)
        } catch {
            // Unrecorded, the variant is outside the bound: remove it rather than keep it untracked.
            logger.warning("could not record a rendered variant", metadata: ["key": "\(key)", "error": "\(String(reflecting: error))"])
            await janitor.discard([.object(key)], logger: logger)
        }
    }

    /// Copies an object into a temporary file for libvips, which then reads only what it
    /// decodes: memory per render stays small whatever the source's size. The first bytes are
    /// checked first, so a source that is not an image is refused before the rest is read.
    private func spool(
        _ key: String, name: String, limit: Int64, blocking: RenderPool.BlockingRunner, logger: Logger
    ) async throws -> String {
        let content: ObjectContent
        do {
            content = try await store.getObject(key, conditions: ReadConditions(), logger: logger)
        } catch {
            throw backendFailure(error, name: name)
        }
        guard content.info.size <= limit else { throw StorageError.sourceFileTooLarge }
        var chunks = content.body.makeAsyncIterator()
        var head = ByteBuffer()
        while head.readableBytes < ImageSniffer.prefixLength, var chunk = try await chunks.next() {
            head.writeBuffer(&chunk)
        }
        guard ImageSniffer.format(of: head.readableBytesView) != nil else {
            throw ImageTransformError(.unsupportedSource, "the first bytes are not those of a supported image")
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "storage-api-render-\(UUID().uuidString.lowercased())").path
        do {
            let file = try await blocking.run { () throws -> FileHandle in
                guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
                      let file = FileHandle(forWritingAtPath: path)
                else { throw ImageTransformError(.renderFailed, "cannot create a temporary file") }
                return file
            }
            defer { try? file.close() }
            var written = Int64(0)
            var next: ByteBuffer? = head
            while let chunk = next {
                written += Int64(chunk.readableBytes)
                guard written <= limit else { throw StorageError.sourceFileTooLarge }
                try await blocking.run { try file.write(contentsOf: chunk.readableBytesView) }
                next = try await chunks.next()
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        return path
    }

    static func resizeMode(_ resize: ImageTransformation.Resize?) -> ResizeMode {
        switch resize ?? .cover {
        case .cover: .cover
        case .contain: .contain
        case .fill: .fill
        }
    }

    /// Only a crop that is cut somewhere other than the centre carries its gravity to libvips.
    static func cropGravity(_ transformation: ImageTransformation) -> CropGravity {
        guard transformation.placesCrop, let gravity = transformation.gravity else { return .centre }
        switch gravity {
        case .north: return .north
        case .south: return .south
        case .east: return .east
        case .west: return .west
        case .northEast: return .northEast
        case .northWest: return .northWest
        case .southEast: return .southEast
        case .southWest: return .southWest
        case .centre: return .centre
        case .smart: return .smart
        case .focusPoint: return .focusPoint
        }
    }

    static func renderFailure(_ error: ImageTransformError) -> StorageError {
        switch error.code {
        case .sourceTooLarge: .sourceImageTooLarge
        case .overloaded: .tooManyRequests("Too many image transformations in progress, try again later")
        case .unavailable: .internalError("The image workers are shutting down")
        default: .sourceImageUnsupported
        }
    }

    /// The file name of a variant: every parameter that changes the output, normalised so that
    /// equivalent requests share it (the resize mode only matters with both sides given, the
    /// gravity only where a cover crop is cut off-centre).
    static func variantName(_ transformation: ImageTransformation, choice: RenderFormatChoice, quality: Int) -> String {
        let bothSides = transformation.width != nil && transformation.height != nil
        let resize = bothSides ? (transformation.resize ?? .cover).rawValue : "keep"
        // `gravity:T[:X:Y]` as `-gT[_X_Y]`: the option's own spelling, colons left out of keys.
        var gravity = ""
        if transformation.placesCrop, let segment = transformation.gravitySegment {
            gravity = "-g" + segment.dropFirst("gravity:".count).replacingOccurrences(of: ":", with: "_")
        }
        return "w\(transformation.width ?? 0)-h\(transformation.height ?? 0)-\(resize)\(gravity)-q\(quality).\(choice.rawValue)"
    }

    /// Variants are kept only for rows typed as images, so deleting a non-image never has to
    /// look for them.
    func isRenderCacheable(_ object: ObjectRecord) -> Bool {
        settings.render.cacheEnabled && object.version != nil && Self.isImage(object)
    }

    static func isSVG(_ object: ObjectRecord) -> Bool {
        let type = object.objectMetadata?.mimetype?.lowercased() ?? ""
        return type.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) == "image/svg+xml"
    }

    /// An SVG source, whole in memory (it is sanitized as a document), bounded by
    /// `SVGSanitizer.maximumBytes` rather than the upload limit.
    private func readSVG(_ key: String, name: String, logger: Logger) async throws -> ByteBuffer {
        let content: ObjectContent
        do {
            content = try await store.getObject(key, conditions: ReadConditions(), logger: logger)
        } catch {
            throw backendFailure(error, name: name)
        }
        guard content.info.size <= Int64(SVGSanitizer.maximumBytes) else {
            throw ImageTransformError(.sourceTooLarge, "an SVG of \(content.info.size) bytes")
        }
        var document = ByteBuffer()
        for try await var chunk in content.body {
            guard document.readableBytes + chunk.readableBytes <= SVGSanitizer.maximumBytes else {
                throw ImageTransformError(.sourceTooLarge, "an SVG over \(SVGSanitizer.maximumBytes) bytes")
            }
            document.writeBuffer(&chunk)
        }
        return document
    }

    static func isImage(_ object: ObjectRecord) -> Bool {
        object.objectMetadata?.mimetype?.lowercased().hasPrefix("image/") ?? false
    }

    /// `__render/<tenant>/<bucket>/<name>/<version>`: beside the objects, never inside a tenant.
    func renderPrefix(_ object: ObjectRecord) -> String {
        "__render/" + backendKey(object)
    }
}
