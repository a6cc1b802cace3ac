import Foundation
import Testing

@testable import Processing

/// `PROCESSING_CONFIG` parsing: every setting read, every mistake one line naming its entry.
struct ProcessingConfigTests {
    let environment = ["ARCHIVE_KEY": "key", "ARCHIVE_SECRET": "secret"]

    let full = """
        clamav:
          address: 127.0.0.1:3310
        targets:
          archive:
            type: s3
            endpoint: http://127.0.0.1:8333
            bucket: archive
            prefix: "cas/{sha256}"
            access_key_env: ARCHIVE_KEY
            secret_key_env: ARCHIVE_SECRET
          disk:
            type: file
            path: /var/lib/copies
            prefix: "{bucket}/"
        buckets:
          uploads:
            steps:
              - clamav
              - sniff-mime
              - sha256
              - webhook: {url: "http://127.0.0.1:9000/check", timeout_ms: 2000}
            on_reject: quarantine
            on_error: pass
            max_attempts: 3
            retry_backoff_ms: 250
            deliver_to: [archive, disk]
          "*":
            steps: [sniff-mime]
        """

    @Test func aFullConfigurationIsRead() throws {
        let config = try ProcessingConfig.parse(full, environment: environment)
        #expect(config.clamav == ClamAVSettings(host: "127.0.0.1", port: 3310))
        let uploads = try #require(config.rule(forBucket: "uploads"))
        #expect(uploads.steps == [.clamav, .sniffMime, .sha256, .webhook(url: URL(string: "http://127.0.0.1:9000/check")!, timeout: .seconds(2))])
        #expect(uploads.onReject == .quarantine)
        #expect(uploads.onError == .pass)
        #expect(uploads.maxAttempts == 3)
        #expect(uploads.retryBackoff == .milliseconds(250))
        #expect(uploads.deliverTo == ["archive", "disk"])
        #expect(config.targets["archive"]?.kind == .s3(S3Target(
            endpoint: URL(string: "http://127.0.0.1:8333")!, bucket: "archive", region: "us-east-1", accessKeyID: "key",
            secretAccessKey: "secret", forcePathStyle: true)))
        #expect(config.targets["disk"]?.kind == .file(directory: "/var/lib/copies"))
        // Every other bucket falls back to "*", with the defaults.
        let other = try #require(config.rule(forBucket: "avatars"))
        #expect(other.steps == [.sniffMime])
        #expect(other.onReject == .delete)
        #expect(other.onError == .reject)
        #expect(other.maxAttempts == 5)
    }

    @Test func jsonIsReadToo() throws {
        let config = try ProcessingConfig.parse(
            #"{"buckets": {"docs": {"steps": ["sha256"], "on_reject": "delete"}}}"#, environment: [:])
        #expect(config.rule(forBucket: "docs")?.steps == [.sha256])
        #expect(config.rule(forBucket: "other") == nil)
    }

    @Test func aBucketWithoutStepsOrTargetsHasNoRule() throws {
        let config = try ProcessingConfig.parse("buckets:\n  plain: {steps: []}\n", environment: [:])
        #expect(config.rule(forBucket: "plain") == nil)
        #expect(try ProcessingConfig.parse("", environment: [:]) == ProcessingConfig())
    }

    @Test func targetPathsFillInTheirPlaceholders() throws {
        let config = try ProcessingConfig.parse(full, environment: environment)
        #expect(config.targets["archive"]?.path(bucket: "uploads", name: "a/b.png", sha256: "abc") == "cas/abc")
        #expect(config.targets["disk"]?.path(bucket: "uploads", name: "a/b.png", sha256: nil) == "uploads/uploads/a/b.png")
        let bare = DeliveryTarget(name: "t", kind: .file(directory: "/x"), prefix: "")
        #expect(bare.path(bucket: "b", name: "n.txt", sha256: nil) == "b/n.txt")
        // A name holding a placeholder's text is not filled in again.
        let named = DeliveryTarget(name: "t", kind: .file(directory: "/x"), prefix: "{name}.{sha256}")
        #expect(named.path(bucket: "b", name: "{bucket}", sha256: "f00") == "{bucket}.f00")
    }

    @Test(arguments: [
        ("clamav: {address: nowhere}", "PROCESSING_CONFIG: clamav.address: expected host:port, got \"nowhere\""),
        ("clamav: {}", "PROCESSING_CONFIG: clamav: address is required (host:port)"),
        ("buckets: {b: {steps: [clamscan]}}",
         "PROCESSING_CONFIG: buckets.b.steps[0]: unknown step \"clamscan\" (known: clamav, sniff-mime, sha256, webhook: {url, timeout_ms})"),
        ("buckets: {b: {steps: [clamav]}}",
         "PROCESSING_CONFIG: buckets.b.steps[0]: the clamav step needs a top-level clamav: {address: host:port}"),
        ("buckets: {b: {steps: [sha256, sha256]}}", "PROCESSING_CONFIG: buckets.b.steps[1]: sha256 is listed twice"),
        ("buckets: {b: {steps: [webhook]}}", "PROCESSING_CONFIG: buckets.b.steps[0]: webhook needs {url, timeout_ms}"),
        ("buckets: {b: {steps: [{webhook: {url: 'ftp://x'}}]}}",
         "PROCESSING_CONFIG: buckets.b.steps[0].webhook.url: expected an http(s) URL, got \"ftp://x\""),
        ("buckets: {b: {steps: [{webhook: {url: 'http://x', timeout_ms: 0}}]}}",
         "PROCESSING_CONFIG: buckets.b.steps[0].webhook.timeout_ms: expected a whole number in 1...600000"),
        ("buckets: {b: {on_reject: burn}}",
         "PROCESSING_CONFIG: buckets.b.on_reject: expected one of delete, quarantine, got \"burn\""),
        ("buckets: {b: {on_error: shrug}}", "PROCESSING_CONFIG: buckets.b.on_error: expected one of reject, pass, got \"shrug\""),
        ("buckets: {b: {max_attempts: 0}}", "PROCESSING_CONFIG: buckets.b.max_attempts: expected a whole number in 1...100"),
        ("buckets: {b: {deliver_to: [nope]}}", "PROCESSING_CONFIG: buckets.b.deliver_to[0]: no target named \"nope\" (targets: none)"),
        ("buckets: {b: {stepz: []}}",
         "PROCESSING_CONFIG: buckets.b.stepz: unknown setting (known: deliver_to, max_attempts, on_error, on_reject, retry_backoff_ms, steps)"),
        ("buckets: [a, b]", "PROCESSING_CONFIG: buckets: expected a mapping"),
        ("buckets: {b: {steps: sha256}}", "PROCESSING_CONFIG: buckets.b.steps: expected a list"),
        ("targets: {t: {path: /x}}", "PROCESSING_CONFIG: targets.t: type is required (s3 or file)"),
        ("targets: {t: {type: ftp}}", "PROCESSING_CONFIG: targets.t.type: unknown target type \"ftp\" (s3 or file)"),
        ("targets: {t: {type: file, path: relative}}", "PROCESSING_CONFIG: targets.t.path: expected an absolute path"),
        ("targets: {t: {type: file}}", "PROCESSING_CONFIG: targets.t: path is required for type file"),
        ("targets: {t: {type: file, path: /x, bucket: b}}", "PROCESSING_CONFIG: targets.t.bucket: not a setting of type file"),
        ("targets: {t: {type: file, path: /x, prefix: '{date}/'}}",
         "PROCESSING_CONFIG: targets.t.prefix: only {bucket}, {name} and {sha256} may be filled in"),
        ("targets: {t: {type: s3, endpoint: 'http://s3', bucket: b, access_key_env: MISSING, secret_key_env: ARCHIVE_SECRET}}",
         "PROCESSING_CONFIG: targets.t.access_key_env: the environment variable MISSING is not set"),
        ("targets: {t: {type: s3, bucket: b}}", "PROCESSING_CONFIG: targets.t: endpoint is required for type s3"),
        ("targets: {t: {type: s3, endpoint: 'http://s3', bucket: b, access_key_env: ARCHIVE_KEY, secret_key_env: ARCHIVE_SECRET, force_path_style: maybe}}",
         "PROCESSING_CONFIG: targets.t.force_path_style: expected true or false"),
        ("targets: {t: {type: file, path: /x, prefix: '{sha256}'}}\nbuckets: {b: {deliver_to: [t]}}",
         "PROCESSING_CONFIG: buckets.b.deliver_to[0]: target \"t\" uses {sha256}, which needs the sha256 step here"),
        ("colour: blue", "PROCESSING_CONFIG: colour: unknown setting (known: buckets, clamav, targets)"),
        ("buckets: {b: [", nil),
    ] as [(String, String?)])
    func mistakesAreOneLineNamingTheEntry(text: String, expected: String?) {
        #expect {
            try ProcessingConfig.parse(text, environment: environment)
        } throws: { error in
            let description = String(describing: error)
            guard !description.contains("\n"), description.hasPrefix("PROCESSING_CONFIG: ") else { return false }
            return expected.map { description == $0 } ?? description.contains("not YAML or JSON")
        }
    }

    @Test func aMissingFileIsNamed() {
        #expect {
            try ProcessingConfig.load(path: "/nonexistent/processing.yaml", environment: [:])
        } throws: { error in
            String(describing: error).hasPrefix("PROCESSING_CONFIG: cannot read /nonexistent/processing.yaml")
        }
    }
}
