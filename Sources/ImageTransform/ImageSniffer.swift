/// Recognises an image format from the first bytes of a file, before anything else is read:
/// a render of something that is not an image is refused after a few bytes, not after the
/// whole object has been fetched (a 50 MB non-image costs one read, not 50 MB of memory).
///
/// Only formats the renderer decodes are recognised; libvips still checks the whole header.
public enum ImageSniffer {
    /// Bytes needed to decide (the longest signature: an ISO-BMFF `ftyp` box and its brand).
    public static let prefixLength = 12

    /// The format whose signature `prefix` starts with, or nil.
    public static func format(of prefix: some Collection<UInt8>) -> ImageFormat? {
        let bytes = Array(prefix.prefix(prefixLength))
        func starts(_ signature: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + signature.count && Array(bytes[offset..<offset + signature.count]) == signature
        }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return .gif }
        if starts(Array("RIFF".utf8)), starts(Array("WEBP".utf8), at: 8) { return .webp }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .tiff }
        if starts(Array("ftyp".utf8), at: 4), bytes.count >= 12 {
            let brand = String(decoding: bytes[8..<12], as: UTF8.self)
            if heifBrands.contains(brand) { return .avif }
        }
        return nil
    }

    /// ISO-BMFF major brands of AVIF and HEIF images.
    static let heifBrands: Set<String> = ["avif", "avis", "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"]
}
