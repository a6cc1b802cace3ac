import Foundation
public import HTTPTypes
public import Hummingbird
import NIOCore
public import StorageCore

extension HTTPField.Name {
    static let xUpsert = Self("x-upsert")!
    static let xMetadata = Self("x-metadata")!
    static let xRobotsTag = Self("x-robots-tag")!
    static let xRequestID = Self("x-request-id")!
    static let xClientInfo = Self("x-client-info")!
    static let xTransformations = Self("x-transformations")!
    static let xForwardedProto = Self("x-forwarded-proto")!
    static let xForwardedHost = Self("x-forwarded-host")!
    static let xForwardedPrefix = Self("x-forwarded-prefix")!
}

enum Responses {
    /// A JSON response with an exact Content-Length.
    static func json(_ document: JSONOutput, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: document.text)))
    }

    /// `{"message": text}`.
    static func message(_ text: String) -> Response {
        json(.object([("message", .string(text))]))
    }
}

/// Storage errors render as the Supabase envelope (spec §3.1), keys in upstream's order.
extension StorageError: HTTPResponseError {
    public var status: HTTPResponse.Status { HTTPResponse.Status(code: httpStatus) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [:]
        if self == .noSuchKeyInBackend { headers[.cacheControl] = "no-store" }
        return Responses.json(envelope, status: status, headers: headers)
    }

    var envelope: JSONOutput {
        .object([
            ("statusCode", .string(String(statusCode))),
            ("error", .string(error)),
            ("message", .string(message)),
            ("code", .string(code.description)),
        ])
    }
}

/// HTTP dates (RFC 9110 IMF-fixdate) for Last-Modified and Expires.
enum HTTPDate {
    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func format(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "GMT")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        func pad(_ number: Int, _ width: Int = 2) -> String {
            let digits = String(number)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(weekdays[parts.weekday! - 1]), \(pad(parts.day!)) \(months[parts.month! - 1]) \(pad(parts.year!, 4)) "
            + "\(pad(parts.hour!)):\(pad(parts.minute!)):\(pad(parts.second!)) GMT"
    }

    static func parse(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}
