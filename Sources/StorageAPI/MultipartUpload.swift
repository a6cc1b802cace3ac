import Foundation
import Hummingbird
import MultipartKit
import NIOCore
import StorageCore

/// A `multipart/form-data` upload read as a stream (contract §5.1): the text fields sent before the
/// file part, the file part's headers, and the file bytes as an async sequence.
///
/// Only the first part with a `filename` is the file; fields after it are not seen, as upstream.
/// The file sequence ends at the part's closing boundary and throws if the request ends first,
/// so a truncated body can never become an object.
final class MultipartUpload: AsyncSequence, @unchecked Sendable {
    typealias Element = ByteBuffer

    /// Most text fields read before the file part.
    static let maximumFields = 10
    /// Longest text field kept.
    static let maximumFieldBytes = 1 << 20
    /// Most bytes one part's header block may take (docs/hardening.md: 16 KiB). The parser grows a
    /// header by copying it, so it is never handed more than this without a body in between.
    static let maximumHeaderBytes = 16 << 10
    /// Most bytes before the file part: the fields that are kept, their headers, and some slack
    /// for ignored ones. Past it the form is refused rather than parsed on.
    static let maximumBytesBeforeFile = maximumFields * (maximumFieldBytes + maximumHeaderBytes) + (1 << 20)
    /// Bytes handed to the parser at a time while it may be reading headers.
    static let headerSliceBytes = 2 << 10

    static let headersTooLarge = StorageError.invalidRequest("A multipart part's headers exceed 16 KiB")
    static let fieldsTooLarge = StorageError.entityTooLarge("The form fields before the file exceed the maximum allowed size")

    private enum Event {
        case header(String, String)
        case body(ByteBuffer)
        case complete
    }

    private let parser: MultipartParser
    private var source: RequestBody.AsyncIterator
    /// `--<boundary>--`, which must arrive before the request ends.
    private let closingDelimiter: [UInt8]
    private let partDelimiter: PartDelimiter
    /// The raw chunk the pending events came from, and the last bytes before it (however small
    /// the chunks were): where the closing delimiter is looked for.
    private var currentChunk = ByteBuffer()
    private var previousTail: [UInt8] = []
    // The parser pushes events from `execute`; they are consumed in order. One task owns this.
    private var events: [Event] = []
    private var eventIndex = 0
    /// The parser has entered the file part's body (and, until `fileFinished`, not left it).
    private var fileBodyStarted = false
    private var fileFinished = false
    /// Bytes handed to the parser since the current part's headers (or the preamble) began;
    /// nil while the parser is inside a part's body.
    private var headerBytes: Int? = 0
    /// Bytes handed to the parser before the file part's body.
    private var bytesBeforeFile = 0

    /// Text fields that preceded the file part.
    private(set) var fields: [String: String] = [:]
    /// Whether a field exceeded `maximumFieldBytes` (its name).
    private(set) var oversizedField: String?
    /// The file part's own `Content-Type`, if it sent one.
    private(set) var fileContentType: String?

    private init(boundary: String, source: RequestBody.AsyncIterator) {
        self.parser = MultipartParser(boundary: boundary)
        self.source = source
        self.closingDelimiter = Array("--\(boundary)--".utf8)
        self.partDelimiter = PartDelimiter(boundary: boundary)
        parser.onHeader = { [unowned self] name, value in events.append(.header(name, value)) }
        parser.onBody = { [unowned self] buffer in
            headerBytes = nil
            // Coalesce the parser's many small slices into one buffer per request chunk.
            if case .body(var pending)? = events.last, events.count > eventIndex {
                pending.writeBuffer(&buffer)
                events[events.count - 1] = .body(pending)
            } else {
                events.append(.body(buffer))
            }
        }
        parser.onPartComplete = { [unowned self] in
            headerBytes = 0
            events.append(.complete)
        }
    }

    /// The boundary parameter of a `multipart/form-data` content type.
    static func boundary(fromContentType contentType: String) -> String? {
        let parameters = HeaderParameters(contentType)
        guard let boundary = parameters["boundary"], !boundary.isEmpty, boundary.utf8.count <= 200 else { return nil }
        return boundary
    }

    /// Reads the request up to the start of the file part.
    static func read(_ body: RequestBody, boundary: String) async throws -> MultipartUpload {
        let upload = MultipartUpload(boundary: boundary, source: body.makeAsyncIterator())
        try await upload.readUntilFilePart()
        return upload
    }

    private func readUntilFilePart() async throws {
        var headers: [(String, String)] = []
        var value = ByteBuffer()
        while true {
            guard let event = try await nextEvent() else { throw StorageError.noContent }
            switch event {
            case .header(let name, let text):
                headers.append((name, text))
                continue
            case .body, .complete:
                break
            }
            let disposition = HeaderParameters(headers.first { $0.0.lowercased() == "content-disposition" }?.1 ?? "")
            if disposition["filename"] != nil || disposition["filename*"] != nil {
                fileContentType = headers.first { $0.0.lowercased() == "content-type" }?.1
                // Hand the first bytes (or the end) back to the file stream.
                eventIndex -= 1
                if case .body = event { fileBodyStarted = true }
                return
            }
            if case .body(var bytes) = event {
                if value.readableBytes + bytes.readableBytes > Self.maximumFieldBytes {
                    oversizedField = disposition["name"] ?? ""
                } else {
                    value.writeBuffer(&bytes)
                }
                continue
            }
            if let name = disposition["name"], fields.count < Self.maximumFields, fields[name] == nil {
                fields[name] = String(buffer: value)
            }
            headers = []
            value = ByteBuffer()
        }
    }

    /// The next parser event, feeding request chunks as needed; nil when the request has ended.
    private func nextEvent() async throws -> Event? {
        while eventIndex >= events.count {
            events.removeAll(keepingCapacity: true)
            eventIndex = 0
            guard var chunk = try await nextRequestChunk() else { return nil }
            previousTail = Self.suffix(closingDelimiter.count, of: previousTail, then: currentChunk)
            currentChunk = chunk
            // Inside the file part, and with the parser not partway through a delimiter, the bytes
            // before the next place one may start are file bytes for certain: they go straight
            // on, sparing the parser its byte-by-byte walk (forms uploaded at a quarter of PUT's
            // speed). The parser takes over from there, so it alone decides where the part ends.
            if fileBodyStarted, !fileFinished, !partDelimiter.mayEndInside(previousTail) {
                let certain = partDelimiter.certainBodyLength(of: chunk)
                if certain > 0, let bytes = chunk.readSlice(length: certain) {
                    events.append(.body(bytes))
                }
            }
            if fileBodyStarted {
                try execute(chunk)
            } else {
                try executeBeforeFile(chunk)
            }
        }
        defer { eventIndex += 1 }
        return events[eventIndex]
    }

    private func execute(_ bytes: ByteBuffer) throws {
        do {
            if bytes.readableBytes > 0 { try parser.execute(bytes) }
        } catch {
            throw StorageError.invalidRequest("Malformed multipart/form-data body")
        }
    }

    /// Feeds the parser before the file part's body in slices, so that no header block grows
    /// past `maximumHeaderBytes` (checked after each slice) and the form stays within
    /// `maximumBytesBeforeFile`. Once the file part's body has begun, whole chunks go in.
    private func executeBeforeFile(_ chunk: ByteBuffer) throws {
        var chunk = chunk
        while chunk.readableBytes > 0, let slice = chunk.readSlice(length: Swift.min(Self.headerSliceBytes, chunk.readableBytes)) {
            bytesBeforeFile += slice.readableBytes
            guard bytesBeforeFile <= Self.maximumBytesBeforeFile else { throw Self.fieldsTooLarge }
            let counted = headerBytes
            try execute(slice)
            // Still in the same header block: every byte of the slice was header.
            if let counted, let now = headerBytes, now == counted {
                headerBytes = counted + slice.readableBytes
                // The delimiter line ahead of the headers is counted too; allow for it.
                guard counted + slice.readableBytes <= Self.maximumHeaderBytes + partDelimiter.bytes.count + 4 else {
                    throw Self.headersTooLarge
                }
            }
        }
    }

    /// The file bytes; single pass.
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(upload: self) }

    struct AsyncIterator: AsyncIteratorProtocol {
        let upload: MultipartUpload
        mutating func next() async throws -> ByteBuffer? { try await upload.nextFileChunk() }
    }

    private func nextFileChunk() async throws -> ByteBuffer? {
        while !fileFinished {
            guard let event = try await nextEvent() else {
                throw StorageError.invalidRequest("Unexpected end of form")
            }
            switch event {
            case .body(let bytes) where bytes.readableBytes > 0: return bytes
            case .body, .header: continue
            case .complete:
                try await requireClosingDelimiter()
                fileFinished = true
            }
        }
        return nil
    }

    /// Reads the rest of the request (parts after the file are ignored) and fails unless the
    /// form's closing delimiter arrived: a cut-off request never becomes an object.
    private func requireClosingDelimiter() async throws {
        var window = previousTail + Array(currentChunk.readableBytesView)
        while !contains(window, closingDelimiter) {
            guard let chunk = try await nextRequestChunk() else {
                throw StorageError.invalidRequest("Unexpected end of form")
            }
            window = Array(window.suffix(closingDelimiter.count)) + Array(chunk.readableBytesView)
        }
    }

    /// The last `count` bytes of `head` followed by `tail`.
    private static func suffix(_ count: Int, of head: [UInt8], then tail: ByteBuffer) -> [UInt8] {
        if tail.readableBytes >= count { return Array(tail.readableBytesView.suffix(count)) }
        return Array((head + tail.readableBytesView).suffix(count))
    }

    private func contains(_ bytes: [UInt8], _ pattern: [UInt8]) -> Bool {
        guard let first = pattern.first, bytes.count >= pattern.count else { return false }
        var index = 0
        while index <= bytes.count - pattern.count {
            guard let candidate = bytes[index...(bytes.count - pattern.count)].firstIndex(of: first) else { return false }
            if bytes[candidate..<(candidate + pattern.count)].elementsEqual(pattern) { return true }
            index = candidate + 1
        }
        return false
    }

    /// The next raw chunk; a broken connection reads as the client going away.
    private func nextRequestChunk() async throws -> ByteBuffer? {
        do {
            return try await source.next()
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError.aborted
        }
    }
}

/// `type; key=value; key="quoted \"value\""` header parameters (Content-Type, Content-Disposition).
/// Keys are case-insensitive; `filename*=UTF-8''…` is percent-decoded.
struct HeaderParameters {
    private var values: [String: String] = [:]

    init(_ header: String) {
        var index = header.startIndex
        // Skip the leading type (`form-data`, `multipart/form-data`).
        while index < header.endIndex, header[index] != ";" { index = header.index(after: index) }
        while index < header.endIndex {
            index = header.index(after: index)
            while index < header.endIndex, header[index] == " " || header[index] == "\t" { index = header.index(after: index) }
            var key = ""
            while index < header.endIndex, header[index] != "=", header[index] != ";" {
                key.append(header[index])
                index = header.index(after: index)
            }
            var value = ""
            if index < header.endIndex, header[index] == "=" {
                index = header.index(after: index)
                if index < header.endIndex, header[index] == "\"" {
                    index = header.index(after: index)
                    while index < header.endIndex, header[index] != "\"" {
                        if header[index] == "\\" {
                            index = header.index(after: index)
                            if index == header.endIndex { break }
                        }
                        value.append(header[index])
                        index = header.index(after: index)
                    }
                    if index < header.endIndex { index = header.index(after: index) }
                    while index < header.endIndex, header[index] != ";" { index = header.index(after: index) }
                } else {
                    while index < header.endIndex, header[index] != ";" {
                        value.append(header[index])
                        index = header.index(after: index)
                    }
                    value = value.trimmingCharacters(in: .whitespaces)
                }
            }
            let name = key.trimmingCharacters(in: .whitespaces).lowercased()
            guard !name.isEmpty else { continue }
            if name.hasSuffix("*"), let quote = value.range(of: "''") {
                value = String(value[quote.upperBound...]).removingPercentEncoding ?? value
            }
            if values[name] == nil { values[name] = value }
        }
    }

    subscript(key: String) -> String? { values[key.lowercased()] }
}
