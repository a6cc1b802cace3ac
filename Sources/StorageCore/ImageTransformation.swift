/// What a render request asks of an image (contract §5.10): a target box, how to fit the image into
/// it, the output format and the encoder quality. Values are validated and clamped on parse, so a
/// transformation in hand is always one the renderer accepts.
public struct ImageTransformation: Sendable, Hashable {
    /// How the image meets the target box. Both sides must be given for the mode to matter.
    public enum Resize: String, Sendable, CaseIterable {
        /// Scale to cover the box, crop the overflow (imgproxy `fill`, the default).
        case cover
        /// Scale to fit inside the box (imgproxy `fit`).
        case contain
        /// Stretch to the box exactly (imgproxy `force`).
        case fill

        /// The imgproxy name upstream reports in `X-Transformations`.
        public var imgproxyName: String {
            switch self {
            case .cover: "fill"
            case .contain: "fit"
            case .fill: "force"
            }
        }
    }

    /// The requested output format.
    public enum Format: String, Sendable, CaseIterable {
        /// The source's own format, whatever the client accepts.
        case origin
        case webp
        case avif
    }

    /// Where a cover crop is taken from (imgproxy's gravity types, upstream's names).
    public enum Gravity: String, Sendable, CaseIterable {
        case north = "no", south = "so", east = "ea", west = "we"
        case northEast = "noea", northWest = "nowe", southEast = "soea", southWest = "sowe"
        case centre = "ce"
        /// The most interesting part, as libvips' attention measure finds it; offsets do not apply.
        case smart = "sm"
        /// The focus point at (`x_offset`, `y_offset`), both fractions of the image, 0...1.
        case focusPoint = "fp"
    }

    /// Width and height bounds (`IMAGE_TRANSFORMATION_LIMIT_MIN_SIZE`/`_MAX_SIZE`).
    public struct Limits: Sendable, Hashable {
        public var minimumSize: Int
        public var maximumSize: Int

        public init(minimumSize: Int = 1, maximumSize: Int = 2000) {
            self.minimumSize = minimumSize
            self.maximumSize = maximumSize
        }
    }

    public var width: Int?
    public var height: Int?
    public var resize: Resize?
    public var format: Format?
    public var quality: Int?
    public var gravity: Gravity?
    /// Offsets from the gravity's edge: pixels, or a fraction of the image when |value| < 1
    /// (imgproxy's reading); for `fp`, the focus point. Only kept with a gravity that takes them.
    public var xOffset: Double?
    public var yOffset: Double?

    public init(
        width: Int? = nil, height: Int? = nil, resize: Resize? = nil, format: Format? = nil, quality: Int? = nil,
        gravity: Gravity? = nil, xOffset: Double? = nil, yOffset: Double? = nil
    ) {
        self.width = width
        self.height = height
        self.resize = resize
        self.format = format
        self.quality = quality
        self.gravity = gravity
        let offsets = gravity != nil && gravity != .smart
        self.xOffset = offsets ? xOffset : nil
        self.yOffset = offsets ? yOffset : nil
    }

    /// Quality accepted from clients (upstream's schema).
    public static let qualityRange = 20...100

    /// Reads the options from `value(name)` (query parameters, or a JSON `transform` object given
    /// as text). Errors name the field under `location` like upstream's schema validation does
    /// (`querystring/width must be integer`). Width and height of 0 mean "not given"; others are
    /// clamped into `limits`.
    public static func parse(
        location: String, limits: Limits = Limits(), _ value: (String) -> String?
    ) throws(StorageError) -> ImageTransformation {
        func integer(_ name: String, minimum: Int, maximum: Int? = nil) throws(StorageError) -> Int? {
            guard let text = value(name), !text.isEmpty else { return nil }
            guard let number = Int(text) else {
                throw StorageError.validation("\(location)/\(name) must be integer")
            }
            if number < minimum { throw StorageError.validation("\(location)/\(name) must be >= \(minimum)") }
            if let maximum, number > maximum { throw StorageError.validation("\(location)/\(name) must be <= \(maximum)") }
            return number
        }
        func choice<Choice: RawRepresentable<String> & CaseIterable>(_ name: String, _: Choice.Type) throws(StorageError) -> Choice? {
            guard let text = value(name), !text.isEmpty else { return nil }
            guard let choice = Choice(rawValue: text) else {
                throw StorageError.validation("\(location)/\(name) must be equal to one of the allowed values")
            }
            return choice
        }
        func number(_ name: String) throws(StorageError) -> Double? {
            guard let text = value(name), !text.isEmpty else { return nil }
            guard let number = Double(text.trimmingCharacters(in: .whitespaces)), number.isFinite else {
                throw StorageError.validation("\(location)/\(name) must be number")
            }
            return number
        }
        func clamped(_ size: Int?) -> Int? {
            guard let size, size > 0 else { return nil }
            return min(max(size, limits.minimumSize), limits.maximumSize)
        }
        let width = clamped(try integer("width", minimum: 0))
        let height = clamped(try integer("height", minimum: 0))
        let resize = try choice("resize", Resize.self)
        let format = try choice("format", Format.self)
        let quality = try integer("quality", minimum: qualityRange.lowerBound, maximum: qualityRange.upperBound)
        let gravity = try choice("gravity", Gravity.self)
        let xOffset = try number("x_offset")
        let yOffset = try number("y_offset")
        if gravity == .focusPoint {
            // imgproxy refuses a focus point outside the image; say so before it is signed or rendered.
            for (name, offset) in [("x_offset", xOffset), ("y_offset", yOffset)] {
                guard let offset else { throw StorageError.validation("\(location) must have required property '\(name)'") }
                if offset < 0 { throw StorageError.validation("\(location)/\(name) must be >= 0") }
                if offset > 1 { throw StorageError.validation("\(location)/\(name) must be <= 1") }
            }
        }
        return ImageTransformation(
            width: width, height: height, resize: resize, format: format, quality: quality,
            gravity: gravity, xOffset: xOffset, yOffset: yOffset)
    }

    /// Whether the gravity decides anything: only a cover crop with both sides given is cut.
    public var placesCrop: Bool {
        guard let gravity, width != nil, height != nil, (resize ?? .cover) == .cover else { return false }
        return gravity != .centre || (xOffset ?? 0) != 0 || (yOffset ?? 0) != 0
    }

    /// `gravity:T` with `:X:Y` when offsets were given (imgproxy's option, numbers as JavaScript
    /// prints them, so the segment reads as upstream's).
    public var gravitySegment: String? {
        guard let gravity else { return nil }
        guard xOffset != nil || yOffset != nil else { return "gravity:\(gravity.rawValue)" }
        return "gravity:\(gravity.rawValue):\(Self.javaScriptNumber(xOffset ?? 0)):\(Self.javaScriptNumber(yOffset ?? 0))"
    }

    /// `100`, `0.25`, `-3.5`: integral values without a fraction, others in their shortest form.
    public static func javaScriptNumber(_ value: Double) -> String {
        if value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// True when nothing would change: the URL then stays a plain download.
    /// A gravity alone changes nothing either.
    public var isEmpty: Bool { width == nil && height == nil && quality == nil && (format ?? .origin) == .origin }

    /// `X-Transformations`: `height:H,width:W,resizing_type:T,quality:Q,format:F` with the options present.
    public var headerValue: String {
        segments(resizeName: { "resizing_type:\(($0 ?? .cover).imgproxyName)" }).joined(separator: ",")
    }

    /// The `transformations` claim of a signed render URL: `resize:` keeps the client's word,
    /// the literal `undefined` when none was given (upstream's format).
    public var tokenClaim: String {
        segments(resizeName: { "resize:\($0?.rawValue ?? "undefined")" }).joined(separator: ",")
    }

    private func segments(resizeName: (Resize?) -> String) -> [String] {
        var segments: [String] = []
        if let height { segments.append("height:\(height)") }
        if let width { segments.append("width:\(width)") }
        if width != nil || height != nil { segments.append(resizeName(resize)) }
        if let quality { segments.append("quality:\(quality)") }
        if let format, format != .origin { segments.append("format:\(format.rawValue)") }
        if let gravitySegment { segments.append(gravitySegment) }
        return segments
    }

    /// Reads a `transformations` claim back. Unknown or malformed segments are ignored: the token
    /// was signed by this server, so they can only come from a newer version of it.
    public static func fromTokenClaim(_ claim: String, format: String? = nil, limits: Limits = Limits()) -> ImageTransformation {
        var values: [String: String] = [:]
        for segment in claim.split(separator: ",") {
            let parts = segment.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[1] != "undefined" else { continue }
            if parts[0] == "gravity" {
                // `gravity:T[:X:Y]`, one segment for three options.
                let gravity = parts[1].split(separator: ":", omittingEmptySubsequences: false)
                values["gravity"] = String(gravity[0])
                if gravity.count == 3 {
                    values["x_offset"] = String(gravity[1])
                    values["y_offset"] = String(gravity[2])
                }
                continue
            }
            values[String(parts[0])] = String(parts[1])
        }
        if let format { values["format"] = format }
        let parsed = try? parse(location: "token", limits: limits) { values[$0] }
        return parsed ?? ImageTransformation()
    }
}
