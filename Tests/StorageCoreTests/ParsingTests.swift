import Foundation
import Testing

@testable import StorageCore

@Suite struct ByteRangeTests {
    @Test(arguments: [
        ("bytes=0-4", ByteRangeRequest.from(first: 0, last: 4)),
        ("bytes=5-", .from(first: 5, last: nil)),
        ("bytes=-3", .suffix(count: 3)),
        ("BYTES=1-2", .from(first: 1, last: 2)),
        (" bytes= 1 - 2 ", .from(first: 1, last: 2)),
    ])
    func parses(_ header: String, _ expected: ByteRangeRequest) {
        #expect(ByteRangeRequest(header: header) == expected)
    }

    @Test(arguments: ["", "bytes=", "bytes=-", "bytes=a-b", "bytes=5-3", "bytes=0-1,3-4", "items=0-1", "bytes=--1", "bytes=1-2-3",
                      "bytes=99999999999999999999-"])
    func ignoresMalformed(_ header: String) {
        #expect(ByteRangeRequest(header: header) == nil)
    }

    @Test func resolvesAgainstSize() {
        #expect(ByteRangeRequest.from(first: 0, last: 4).resolve(size: 10) == .partial(0...4))
        #expect(ByteRangeRequest.from(first: 5, last: 100).resolve(size: 10) == .partial(5...9))
        #expect(ByteRangeRequest.from(first: 9, last: nil).resolve(size: 10) == .partial(9...9))
        #expect(ByteRangeRequest.suffix(count: 3).resolve(size: 10) == .partial(7...9))
        #expect(ByteRangeRequest.suffix(count: 30).resolve(size: 10) == .partial(0...9))
    }

    @Test func unsatisfiable() {
        #expect(ByteRangeRequest.from(first: 10, last: nil).resolve(size: 10) == .unsatisfiable)
        #expect(ByteRangeRequest.from(first: 0, last: 0).resolve(size: 0) == .unsatisfiable)
        #expect(ByteRangeRequest.suffix(count: 0).resolve(size: 10) == .unsatisfiable)
        #expect(ByteRangeRequest.suffix(count: 5).resolve(size: 0) == .unsatisfiable)
    }
}

@Suite struct ListCursorTests {
    @Test func roundTrips() throws {
        let cursor = ListCursor(
            startAfter: "photos/a b.png", sortOrder: .desc, sortColumn: .createdAt,
            sortColumnAfter: "2024-01-02T03:04:05.678Z")
        #expect(try ListCursor(decoding: cursor.encoded) == cursor)
    }

    @Test func usesUpstreamsFormat() throws {
        let cursor = ListCursor(startAfter: "photos/a.png", sortOrder: .desc, sortColumn: .createdAt, sortColumnAfter: "2024-01-02T03:04:05.678Z")
        // base64("l:photos/a.png\no:desc\nc:created_at\na:2024-01-02T03:04:05.678Z")
        #expect(cursor.encoded == "bDpwaG90b3MvYS5wbmcKbzpkZXNjCmM6Y3JlYXRlZF9hdAphOjIwMjQtMDEtMDJUMDM6MDQ6MDUuNjc4Wg==")
        #expect(ListCursor(startAfter: "a").encoded == "bDph")
    }

    @Test func defaultsToAscendingAndNoColumn() throws {
        let cursor = try ListCursor(decoding: "bDph")
        #expect(cursor == ListCursor(startAfter: "a", sortOrder: .asc))
    }

    @Test(arguments: [
        "", "not base64!", "eDp5", "bA==", "bDphCm86c2lkZXdheXM=", "bDphCmM6b3duZXI=",
        "bDphCmM6Y3JlYXRlZF9hdAphOmdhcmJhZ2U=", "bDphCmM6Y3JlYXRlZF9hdAphOjIwMjQtMTMtNDVUOTk6MDA6MDAuMDAwWg==", "bDphCmM6Y3JlYXRlZF9hdAphOm5vdw==",
    ])
    func rejectsForeignTokens(_ token: String) {
        // eDp5 = "x:y", bA== = "l", ...o:sideways, ...c:owner, then sort values that are no
        // timestamp (garbage, month 13, now)
        #expect(throws: StorageError.invalidParameter("Invalid Parameter continuation token")) {
            try ListCursor(decoding: token)
        }
    }
}

@Suite struct StorageErrorTests {
    @Test func logicalFourHundredsTravelAsHTTP400() {
        #expect(StorageError.noSuchBucket.httpStatus == 400)
        #expect(StorageError.noSuchBucket.statusCode == 404)
        #expect(StorageError.keyAlreadyExists.httpStatus == 400)
        #expect(StorageError.entityTooLarge().statusCode == 413)
        #expect(StorageError.accessDenied().httpStatus == 400)
    }

    @Test func listedExceptionsKeepTheirStatus() {
        #expect(StorageError.invalidRange.httpStatus == 416)
        #expect(StorageError.databaseTimeout.httpStatus == 544)
        #expect(StorageError.slowDown.httpStatus == 429)
        #expect(StorageError.aborted.httpStatus == 499)
        #expect(StorageError.invalidRole().httpStatus == 403)
        #expect(StorageError.routeNotFound(method: "GET", url: "/object/x").httpStatus == 404)
        #expect(StorageError.payloadTooLarge().httpStatus == 413)
    }

    @Test func serverErrorsAre500() {
        #expect(StorageError.databaseError("boom").httpStatus == 500)
        #expect(StorageError.internalError().httpStatus == 500)
        // Logical 503s still travel as HTTP 400 (only logical 500 maps to 500).
        #expect(StorageError.lockTimeout.httpStatus == 400)
        #expect(StorageError.databaseReadOnly().httpStatus == 400)
    }

    @Test func catalogueTexts() {
        #expect(StorageError.noSuchKey.error == "not_found")
        #expect(StorageError.noSuchKey.message == "Object not found")
        #expect(StorageError.noSuchKeyInBackend.error == "Not found")
        #expect(StorageError.keyAlreadyExists.code.description == "KeyAlreadyExists")
        #expect(StorageError.bucketAlreadyExists.error == "Duplicate")
        #expect(StorageError.bucketNotEmpty.message == "The bucket you tried to delete is not empty")
        #expect(StorageError.invalidBucketName.error == "Invalid Input")
        #expect(StorageError.entityTooLarge().error == "Payload too large")
        #expect(StorageError.validation("x").error == "Error")
        #expect(StorageError.invalidJWT("bad").error == "InvalidJWT")
        #expect(StorageError.routeNotFound(method: "GET", url: "/object/x").message == "Route GET:/object/x not found")
    }
}

@Suite struct JSONValueTests {
    @Test func decodesEveryKind() throws {
        let text = #"{"a":1,"b":1.5,"c":"s","d":true,"e":null,"f":[1,"x"],"g":{"h":2}}"#
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(value["a"] == .integer(1))
        #expect(value["b"] == .number(1.5))
        #expect(value["c"]?.stringValue == "s")
        #expect(value["d"]?.boolValue == true)
        #expect(value["e"] == .null)
        #expect(value["f"] == .array([.integer(1), .string("x")]))
        #expect(value["g"]?["h"]?.int64Value == 2)
    }

    @Test func metadataRoundTrip() {
        let metadata = ObjectMetadata(
            eTag: "\"abc\"", size: 5, mimetype: "text/plain", cacheControl: "no-cache",
            lastModified: "2024-01-01T00:00:00.000Z", contentLength: 5, httpStatusCode: 200)
        #expect(ObjectMetadata(json: metadata.json) == metadata)
        #expect(metadata.json["size"] == .integer(5))
    }

    @Test func timestampsHaveMillisecondsAndZ() {
        let date = Date(timeIntervalSince1970: 1_613_537_012.77)
        #expect(Timestamp.iso8601(date) == "2021-02-17T04:43:32.770Z")
        #expect(Timestamp.parseISO8601("2021-02-17T04:43:32.770Z")?.timeIntervalSince1970 == 1_613_537_012.77)
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 0.001)) == "1970-01-01T00:00:00.001Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 1_613_537_012.7699)) == "2021-02-17T04:43:32.769Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: -62_135_596_800)) == "0001-01-01T00:00:00.000Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 253_402_300_799.999)) == "9999-12-31T23:59:59.999Z")
    }

    @Test func timestampArithmeticAgreesWithFoundation() {
        // Foundation switches to the Julian calendar before 1582-10-15; Postgres and JavaScript
        // stay Gregorian (proleptic), as the arithmetic does. Values from Node's toISOString.
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: -36_853_455_860.157)) == "0802-02-28T08:55:39.843Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: -12_219_681_599.995)) == "1582-10-10T12:00:00.005Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: -30_605_126_400)) == "1000-03-01T00:00:00.000Z")
        // From 1583 on, Foundation must agree: a random instant on every 61st day and on the
        // first days of every four-year cycle for 1600 years around 1970 (four eras of leap
        // rules), and random instants up to the end of year 9999.
        let gregorianStart: Int64 = -12_212_553_600_000  // 1583-01-01
        var generator = SystemRandomNumberGenerator()
        var instants: [Int64] = [-1, 0, 1, 86_399_999, 86_400_000, -86_400_000, -86_400_001, gregorianStart]
        for day in stride(from: Int64(-141_349), to: 800 * 366, by: 1) where day % 61 == 0 || day % 1461 < 3 {
            instants.append(day * 86_400_000 + Int64.random(in: 0..<86_400_000, using: &generator))
        }
        for _ in 0..<3000 {
            instants.append(Int64.random(in: gregorianStart..<253_402_300_800_000, using: &generator))
        }
        for milliseconds in instants {
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            // Far from 1970 a Double holds less than a millisecond: compare at the one it rounds to.
            let held = Int64((date.timeIntervalSince1970 * 1000 + 0.0005).rounded(.down))
            #expect(Timestamp.iso8601(date) == Timestamp.foundationISO8601(milliseconds: held), "\(milliseconds)")
        }
    }
}
