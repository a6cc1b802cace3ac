import WireFormats
import Crypto
import Foundation
import Testing

@testable import S3

/// AWS's published Signature V4 test suite (aws-sig-v4-test-suite, generic service "service")
/// and the Amazon S3 documentation examples. Expected values are copied from the published
/// .creq/.sts/.authz files and documentation pages; nothing here touches the network.
@Suite struct SigV4SuiteTests {
    static let signer = SigV4Signer(
        accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region: "us-east-1",
        service: "service")
    /// 20150830T123600Z
    static let date = Date(timeIntervalSince1970: 1_440_938_160)
    static let base = [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")]

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var method = "GET"
        var path = "/"
        var query: [(String, String)] = []
        var headers: [(String, String)] = SigV4SuiteTests.base
        var body = ""
        var canonical: String
        var stringToSignHash: String?
        var signedHeaders = "host;x-amz-date"
        var signature: String
        var testDescription: String { name }
    }

    static let emptyHash = SigV4Signer.emptyPayloadHash
    static let vanillaHeaders = "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"

    static let cases: [Case] = [
        Case(
            name: "get-vanilla",
            canonical: "GET\n/\n\n\(vanillaHeaders)\nhost;x-amz-date\n\(emptyHash)",
            stringToSignHash: "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        Case(
            name: "get-vanilla-query-order-key-case", query: [("Param2", "value2"), ("Param1", "value1")],
            canonical: "GET\n/\nParam1=value1&Param2=value2\n\(vanillaHeaders)\nhost;x-amz-date\n\(emptyHash)",
            stringToSignHash: "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
            signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        Case(
            name: "get-vanilla-query-order-value", query: [("Param1", "value2"), ("Param1", "value1")],
            canonical: "GET\n/\nParam1=value1&Param1=value2\n\(vanillaHeaders)\nhost;x-amz-date\n\(emptyHash)",
            signature: "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"),
        Case(
            name: "get-vanilla-query-order-key", query: [("Param1", "value2"), ("Param1", "Value1")],
            canonical: "GET\n/\nParam1=Value1&Param1=value2\n\(vanillaHeaders)\nhost;x-amz-date\n\(emptyHash)",
            signature: "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"),
        Case(
            name: "get-vanilla-utf8-query", query: [("\u{1234}", "bar")],
            canonical: "GET\n/\n%E1%88%B4=bar\n\(vanillaHeaders)\nhost;x-amz-date\n\(emptyHash)",
            stringToSignHash: "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
            signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
        Case(
            name: "get-utf8", path: "/\u{1234}",
            canonical: "GET\n/%E1%88%B4\n\n\(vanillaHeaders)\nhost;x-amz-date\n\(emptyHash)",
            stringToSignHash: "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
            signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        Case(
            name: "get-unreserved", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            canonical: "GET\n/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\n\(vanillaHeaders)\nhost;x-amz-date\n\(emptyHash)",
            stringToSignHash: "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
            signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
        Case(
            name: "get-vanilla-query-unreserved",
            query: [("-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")],
            canonical: "GET\n/\n-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\(vanillaHeaders)\nhost;x-amz-date\n\(emptyHash)",
            stringToSignHash: "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
            signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
        Case(
            name: "get-vanilla-empty-query-key", query: [("Param1", "value1")],
            canonical: "GET\n/\nParam1=value1\n\(vanillaHeaders)\nhost;x-amz-date\n\(emptyHash)",
            signature: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
        Case(
            name: "normalize-path/get-space", path: "/example space/",
            canonical: "GET\n/example%20space/\n\n\(vanillaHeaders)\nhost;x-amz-date\n\(emptyHash)",
            stringToSignHash: "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
            signature: "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
        Case(
            name: "post-vanilla", method: "POST",
            canonical: "POST\n/\n\n\(vanillaHeaders)\nhost;x-amz-date\n\(emptyHash)",
            stringToSignHash: "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
            signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        Case(
            name: "post-x-www-form-urlencoded", method: "POST",
            headers: [("Content-Type", "application/x-www-form-urlencoded")] + base, body: "Param1=value1",
            canonical: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n\(vanillaHeaders)\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
            stringToSignHash: "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
            signedHeaders: "content-type;host;x-amz-date",
            signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
        Case(
            name: "post-header-key-sort", method: "POST",
            headers: [("Host", "example.amazonaws.com"), ("My-Header1", "value1"), ("X-Amz-Date", "20150830T123600Z")],
            canonical: "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n\(emptyHash)",
            stringToSignHash: "9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
            signedHeaders: "host;my-header1;x-amz-date",
            signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
        Case(
            name: "post-header-value-case", method: "POST",
            headers: [("Host", "example.amazonaws.com"), ("My-Header1", "VALUE1"), ("X-Amz-Date", "20150830T123600Z")],
            canonical: "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n\(emptyHash)",
            signedHeaders: "host;my-header1;x-amz-date",
            signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
        Case(
            name: "get-header-value-trim",
            headers: [("Host", "example.amazonaws.com"), ("My-Header1", " value1"), ("My-Header2", " \"a   b   c\""),
                      ("X-Amz-Date", "20150830T123600Z")],
            canonical: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n\(emptyHash)",
            stringToSignHash: "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
            signedHeaders: "host;my-header1;my-header2;x-amz-date",
            signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
        Case(
            name: "get-header-key-duplicate",
            headers: [("Host", "example.amazonaws.com"), ("My-Header1", "value2"), ("My-Header1", "value2"),
                      ("My-Header1", "value1"), ("X-Amz-Date", "20150830T123600Z")],
            canonical: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n\(emptyHash)",
            signedHeaders: "host;my-header1;x-amz-date",
            signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
    ]

    @Test(arguments: cases)
    func vector(_ vector: Case) {
        let signer = Self.signer
        let request = SigV4Signer.Request(
            method: vector.method, encodedPath: SigV4Signer.encodePath(vector.path), query: vector.query,
            headers: vector.headers)
        let payloadHash = SHA256.hash(data: Array(vector.body.utf8)).lowercaseHex
        let canonical = signer.canonicalRequest(request, payloadHash: payloadHash)
        #expect(canonical == vector.canonical)
        let stringToSign = signer.stringToSign(canonicalRequest: canonical, date: Self.date)
        if let hash = vector.stringToSignHash {
            #expect(stringToSign == "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\(hash)")
        }
        #expect(signer.authorization(for: request, payloadHash: payloadHash, date: Self.date)
            == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(vector.signedHeaders), Signature=\(vector.signature)")
    }

    @Test func sessionTokenIsSigned() {
        let token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
        let request = SigV4Signer.Request(method: "POST", encodedPath: "/", headers: Self.base + [("X-Amz-Security-Token", token)])
        #expect(Self.signer.authorization(for: request, payloadHash: Self.emptyHash, date: Self.date).hasSuffix(
            "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"))
    }
}

/// The Amazon S3 SigV4 documentation examples (virtual-hosted `examplebucket`, 20130524T000000Z).
@Suite struct SigV4S3DocumentationTests {
    static let signer = SigV4Signer(
        accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    static let date = Date(timeIntervalSince1970: 1_369_353_600)
    static let host = "examplebucket.s3.amazonaws.com"
    static let emptyHash = SigV4Signer.emptyPayloadHash

    func signature(method: String, path: String, query: [(String, String)] = [], headers: [(String, String)], payloadHash: String) -> (String, String) {
        let request = SigV4Signer.Request(method: method, encodedPath: SigV4Signer.encodePath(path), query: query, headers: headers)
        let canonical = Self.signer.canonicalRequest(request, payloadHash: payloadHash)
        let signature = Self.signer.signature(stringToSign: Self.signer.stringToSign(canonicalRequest: canonical, date: Self.date), date: Self.date)
        return (canonical, signature)
    }

    @Test func getObjectWithRange() {
        let (canonical, signature) = signature(
            method: "GET", path: "/test.txt",
            headers: [("Host", Self.host), ("Range", "bytes=0-9"), ("x-amz-content-sha256", Self.emptyHash), ("x-amz-date", "20130524T000000Z")],
            payloadHash: Self.emptyHash)
        #expect(canonical == "GET\n/test.txt\n\nhost:\(Self.host)\nrange:bytes=0-9\nx-amz-content-sha256:\(Self.emptyHash)\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\(Self.emptyHash)")
        #expect(Self.signer.stringToSign(canonicalRequest: canonical, date: Self.date)
            == "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
        #expect(signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func putObjectEncodesTheKeyOnce() {
        let bodyHash = SHA256.hash(data: Array("Welcome to Amazon S3.".utf8)).lowercaseHex
        #expect(bodyHash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let (canonical, signature) = signature(
            method: "PUT", path: "/test$file.text",
            headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("Host", Self.host), ("x-amz-content-sha256", bodyHash),
                      ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payloadHash: bodyHash)
        #expect(canonical.split(separator: "\n")[1] == "/test%24file.text")
        #expect(signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func valuelessQueryParameter() {
        let (canonical, signature) = signature(
            method: "GET", path: "/", query: [("lifecycle", "")],
            headers: [("Host", Self.host), ("x-amz-content-sha256", Self.emptyHash), ("x-amz-date", "20130524T000000Z")],
            payloadHash: Self.emptyHash)
        #expect(canonical.split(separator: "\n", omittingEmptySubsequences: false)[2] == "lifecycle=")
        #expect(signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func listObjects() {
        let (_, signature) = signature(
            method: "GET", path: "/", query: [("max-keys", "2"), ("prefix", "J")],
            headers: [("Host", Self.host), ("x-amz-content-sha256", Self.emptyHash), ("x-amz-date", "20130524T000000Z")],
            payloadHash: Self.emptyHash)
        #expect(signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func presignedURL() {
        let query = Self.signer.presignedQuery(method: "GET", encodedPath: "/test.txt", host: Self.host, expires: 86400, date: Self.date)
        #expect(query.last?.1 == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
        let url = "https://\(Self.host)/test.txt?" + query.map { "\($0.0)=\(SigV4Signer.encode($0.1))" }.joined(separator: "&")
        #expect(url == "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    }

    @Test func signedHeadersAddDateHashAndAuthorization() {
        let headers = Self.signer.signedHeaders(
            method: "GET", encodedPath: "/test.txt", query: [], headers: [("host", Self.host), ("Range", "bytes=0-9")],
            payloadHash: Self.emptyHash, date: Self.date)
        #expect(headers.first { $0.0 == "x-amz-date" }?.1 == "20130524T000000Z")
        #expect(headers.first { $0.0 == "Authorization" }?.1
            == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func pathsAreNeverNormalised() {
        #expect(SigV4Signer.encodePath("/bucket/a//b/../c d+e") == "/bucket/a//b/../c%20d%2Be")
        #expect(SigV4Signer.encode("a/b") == "a%2Fb")
        #expect(SigV4Signer.encodePath("/t/b/caf\u{e9}") == "/t/b/caf%C3%A9")
    }
}
