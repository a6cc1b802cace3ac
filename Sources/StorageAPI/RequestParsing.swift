import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StorageCore

/// Raw request paths, parsed here rather than by the router: the router collapses `//`, drops a
/// trailing `/` and never percent-decodes, while object keys need all three kept exact.
enum StoragePath {
    /// Where clients reach the API without a gateway (contract §1, §12.1: every route also lives here).
    static let mountPrefix = "/storage/v1"

    /// The path relative to the API root: `/storage/v1/object/x` and `/object/x` both give `/object/x`.
    static func relative(_ path: String) -> Substring {
        let raw = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        if raw == mountPrefix { return "/" }
        if raw.hasPrefix(mountPrefix + "/") { return raw.dropFirst(mountPrefix.count) }
        return raw
    }

    /// The bucket and key of `/<static segments>/<bucket>/<key…>`, percent-decoded.
    ///
    /// - Parameter staticSegments: how many literal segments precede the bucket
    ///   (`/object/:bucket` → 1, `/object/info/authenticated/:bucket` → 3).
    static func bucketAndKey(_ path: String, staticSegments: Int) throws(StorageError) -> (bucket: String, key: String) {
        let segments = relative(path).split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard segments.count > staticSegments else { throw .invalidBucketName }
        let bucket = try decode(segments[segments.startIndex + staticSegments], else: .invalidBucketName)
        let rawKey = segments.dropFirst(staticSegments + 1).joined(separator: "/")
        let key = try decode(Substring(rawKey), else: .invalidKey(rawKey))
        return (bucket, key)
    }

    /// The bucket of `/<static segments>/<bucket>`.
    static func bucket(_ path: String, staticSegments: Int) throws(StorageError) -> String {
        try bucketAndKey(path, staticSegments: staticSegments).bucket
    }

    /// Percent-decodes once as UTF-8; `+` stays literal in paths.
    static func decode(_ text: Substring, else failure: StorageError) throws(StorageError) -> String {
        guard text.contains("%") else { return String(text) }
        guard let decoded = String(text).removingPercentEncoding else { throw failure }
        return decoded
    }
}

/// Query parameters with form decoding (`+` is a space, `%XX` decoded), as clients encode them.
struct QueryParameters {
    private var values: [(String, String)] = []

    init(_ query: String?) {
        guard let query, !query.isEmpty else { return }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            values.append((Self.decode(parts[0]), parts.count > 1 ? Self.decode(parts[1]) : ""))
        }
    }

    private static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    /// The first value of `name`, `""` when present without a value, `nil` when absent.
    subscript(name: String) -> String? {
        values.first { $0.0 == name }?.1
    }
}

/// A JSON request body read with upstream's validation behaviour: types are coerced (a string
/// `"60"` is accepted as the integer 60) and failures name the property like AJV does.
struct JSONBody {
    let members: [String: JSONValue]

    /// Reads at most 1 MiB. `allowEmpty` admits an empty body (routes that take none).
    static func read(_ request: Request, context: StorageRequestContext, allowEmpty: Bool = false) async throws -> JSONBody {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw StorageError.payloadTooLarge()
        }
        if buffer.readableBytes == 0 {
            if allowEmpty { return JSONBody(members: [:]) }
            throw StorageError.validation("body must be object")
        }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView)) else {
            throw StorageError.validation("Body is not valid JSON")
        }
        guard case .object(let members) = value else { throw StorageError.validation("body must be object") }
        return JSONBody(members: members)
    }

    func has(_ key: String) -> Bool { members[key] != nil }

    func requiredString(_ key: String) throws -> String {
        try required(key, string(key))
    }

    /// `value`, or the validation error for a missing `key`.
    func required<Value>(_ key: String, _ value: Value?) throws -> Value {
        guard let value else { throw StorageError.validation("body must have required property '\(key)'") }
        return value
    }

    /// `sortBy: {column (required, one of columns), order?: asc|desc}`.
    func sortBy(columns: [ObjectSortColumn]) throws -> (column: ObjectSortColumn, order: ListSortOrder?)? {
        guard let sortBy = try object("sortBy") else { return nil }
        guard let column = try sortBy.choice("column", columns) else {
            throw StorageError.validation("body/sortBy must have required property 'column'")
        }
        return (column, try sortBy.choice("order", ListSortOrder.allCases))
    }

    func string(_ key: String) throws -> String? {
        switch members[key] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case .integer(let number)?: return String(number)
        case .number(let number)?: return String(number)
        case .bool(let flag)?: return flag ? "true" : "false"
        default: throw StorageError.validation("body/\(key) must be string")
        }
    }

    func integer(_ key: String, minimum: Int? = nil, maximum: Int? = nil) throws -> Int? {
        let value: Int?
        switch members[key] {
        case nil, .null?: return nil
        case .integer(let number)?: value = Int(exactly: number)
        case .number(let number)?: value = number.rounded() == number ? Int(exactly: number) : nil
        case .string(let text)?: value = Int(text.trimmingCharacters(in: .whitespaces))
        case .bool(let flag)?: value = flag ? 1 : 0
        default: value = nil
        }
        guard let value else { throw StorageError.validation("body/\(key) must be integer") }
        if let minimum, value < minimum { throw StorageError.validation("body/\(key) must be >= \(minimum)") }
        if let maximum, value > maximum { throw StorageError.validation("body/\(key) must be <= \(maximum)") }
        return value
    }

    func boolean(_ key: String) throws -> Bool? {
        switch members[key] {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        case .string("true")?, .integer(1)?: return true
        case .string("false")?, .integer(0)?, .string("")?: return false
        default: throw StorageError.validation("body/\(key) must be boolean")
        }
    }

    func stringArray(_ key: String) throws -> [String]? {
        switch members[key] {
        case nil, .null?: return nil
        case .array(let elements)?:
            return try elements.map { element in
                guard case .string(let text) = element else { throw StorageError.validation("body/\(key) must be array of strings") }
                return text
            }
        case .string(let text)?: return [text]
        default: throw StorageError.validation("body/\(key) must be array")
        }
    }

    func object(_ key: String) throws -> JSONBody? {
        switch members[key] {
        case nil, .null?: return nil
        case .object(let members)?: return JSONBody(members: members)
        default: throw StorageError.validation("body/\(key) must be object")
        }
    }

    /// A value restricted to `allowed` (case-sensitive).
    func choice(_ key: String, _ allowed: [String]) throws -> String? {
        guard let value = try string(key) else { return nil }
        guard allowed.contains(value) else {
            throw StorageError.validation("body/\(key) must be equal to one of the allowed values")
        }
        return value
    }

    /// `choice` for an enum's raw values.
    func choice<Value: RawRepresentable>(_ key: String, _ allowed: [Value]) throws -> Value? where Value.RawValue == String {
        try choice(key, allowed.map(\.rawValue)).flatMap(Value.init(rawValue:))
    }
}

extension Request {
    /// `request.headers` for policies: a JSON object with lower-cased names (`host` included).
    var headersJSON: String {
        var members: [String: JSONValue] = [:]
        for field in headers {
            let name = field.name.canonicalName
            if let existing = members[name]?.stringValue {
                members[name] = .string(existing + ", " + field.value)
            } else {
                members[name] = .string(field.value)
            }
        }
        if let authority = head.authority { members["host"] = .string(authority) }
        return JSONOutput.value(.object(members)).text
    }

    /// The `Content-Length` header when it is a valid number.
    var declaredContentLength: Int64? {
        headers[.contentLength].flatMap { Int64($0) }.flatMap { $0 >= 0 ? $0 : nil }
    }

    /// Query parameters, form-decoded.
    var query: QueryParameters { QueryParameters(uri.query) }
}
