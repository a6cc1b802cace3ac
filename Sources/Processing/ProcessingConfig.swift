public import Foundation
public import StorageCore
import Yams

/// What happens to new versions before anyone can read them, per bucket, and where ready ones
/// go (`PROCESSING_CONFIG`, docs/contract.md §12.3). Read once at start-up; the same file on
/// every replica.
public struct ProcessingConfig: Sendable, Equatable {
    /// clamd, for the `clamav` step.
    public var clamav: ClamAVSettings?
    /// Delivery targets by name.
    public var targets: [String: DeliveryTarget]
    /// Per bucket id; `"*"` applies to every bucket without an entry of its own.
    public var buckets: [String: BucketProcessing]

    public init(clamav: ClamAVSettings? = nil, targets: [String: DeliveryTarget] = [:], buckets: [String: BucketProcessing] = [:]) {
        self.clamav = clamav
        self.targets = targets
        self.buckets = buckets
    }

    /// The rule of a bucket: its own entry, else `"*"`; nil when neither has steps or targets
    /// (such a bucket's uploads are committed at once, as without a configuration).
    public func rule(forBucket id: String) -> BucketProcessing? {
        guard let rule = buckets[id] ?? buckets["*"], !rule.steps.isEmpty || !rule.deliverTo.isEmpty else { return nil }
        return rule
    }

    /// Reads and validates a configuration file. Errors are one line naming the bad entry.
    /// - Parameter environment: where the env vars a target names are looked up.
    public static func load(path: String, environment: [String: String]) throws(ProcessingConfigError) -> ProcessingConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ProcessingConfigError(path: "", "cannot read \(path): \(error.localizedDescription)")
        }
        return try parse(text, environment: environment)
    }

    /// Parses YAML or JSON (JSON is YAML) text; see ``load(path:environment:)``.
    public static func parse(_ text: String, environment: [String: String]) throws(ProcessingConfigError) -> ProcessingConfig {
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw ProcessingConfigError(path: "", "not YAML or JSON: \(String(describing: error).split(separator: "\n").joined(separator: " "))")
        }
        let root = try Entry(document ?? [String: Any](), path: "").map(allowing: ["clamav", "targets", "buckets"])
        var config = ProcessingConfig()
        if let clamav = root["clamav"] {
            config.clamav = try ClamAVSettings(clamav.map(allowing: ["address"]))
        }
        if let targets = root["targets"] {
            for (name, entry) in try targets.map() {
                config.targets[name] = try DeliveryTarget(name: name, entry, environment: environment)
            }
        }
        if let buckets = root["buckets"] {
            for (bucket, entry) in try buckets.map() {
                config.buckets[bucket] = try BucketProcessing(entry, config: config)
            }
        }
        return config
    }
}

/// A configuration error: where (`buckets.avatars.steps[1]`) and what.
public struct ProcessingConfigError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var message: String

    init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "PROCESSING_CONFIG: " + (path.isEmpty ? "" : "\(path): ") + message }
}

/// clamd's address (`host:port`).
public struct ClamAVSettings: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init(_ entry: [String: Entry]) throws(ProcessingConfigError) {
        guard let address = entry["address"] else { throw ProcessingConfigError(path: "clamav", "address is required (host:port)") }
        let text = try address.string()
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port),
            colon != text.startIndex
        else { throw ProcessingConfigError(path: address.path, "expected host:port, got \"\(text)\"") }
        self.init(host: String(text[..<colon]), port: port)
    }
}

/// One check a new version goes through, in the order the bucket lists them.
public enum ProcessingStep: Sendable, Equatable {
    /// clamd INSTREAM: a signature found rejects.
    case clamav
    /// The first bytes against the declared type and the bucket's allowed types.
    case sniffMime
    /// The content's SHA-256, kept with the version (target paths may use it).
    case sha256
    /// POST the details and a signed URL; the receiver says continue, reject or retry.
    case webhook(url: URL, timeout: Duration)

    /// As in the status resource and the rejection message.
    public var name: String {
        switch self {
        case .clamav: "clamav"
        case .sniffMime: "sniff-mime"
        case .sha256: "sha256"
        case .webhook: "webhook"
        }
    }
}

/// What becomes of a rejected version's bytes.
public enum RejectAction: String, Sendable, Equatable {
    case delete
    /// Kept in the backend, under the rejected version, for someone to look at.
    case quarantine
}

/// What a step that cannot finish (clamd down, a hook unreachable) comes to after its attempts.
public enum StepErrorOutcome: String, Sendable, Equatable {
    /// Fail closed: the version is rejected.
    case reject
    /// Fail open: the step counts as passed, with the error as its detail.
    case pass
}

/// A bucket's rule.
public struct BucketProcessing: Sendable, Equatable {
    public var steps: [ProcessingStep]
    public var onReject: RejectAction
    public var onError: StepErrorOutcome
    /// Attempts of one step, the first included, before `onError` applies.
    public var maxAttempts: Int
    /// The wait after a step's first failed attempt; it doubles after each one.
    public var retryBackoff: Duration
    /// Target names, each sent a copy once the version is ready.
    public var deliverTo: [String]

    public init(
        steps: [ProcessingStep], onReject: RejectAction = .delete, onError: StepErrorOutcome = .reject, maxAttempts: Int = 5,
        retryBackoff: Duration = .seconds(1), deliverTo: [String] = []
    ) {
        self.steps = steps
        self.onReject = onReject
        self.onError = onError
        self.maxAttempts = max(1, maxAttempts)
        self.retryBackoff = retryBackoff
        self.deliverTo = deliverTo
    }

    /// The waits between attempts of a step or a delivery: `retryBackoff`, doubling to five minutes.
    public var backoff: Backoff { Backoff(initial: retryBackoff, maximum: .seconds(300)) }

    /// True when the steps compute the content's hash (`{sha256}` in a target path needs it).
    public var hashesContent: Bool { steps.contains(.sha256) }

    init(_ entry: Entry, config: ProcessingConfig) throws(ProcessingConfigError) {
        let fields = try entry.map(allowing: ["steps", "on_reject", "on_error", "max_attempts", "retry_backoff_ms", "deliver_to"])
        var steps: [ProcessingStep] = []
        for step in try fields["steps"]?.list() ?? [] {
            let parsed = try Self.step(step)
            if parsed == .clamav, config.clamav == nil {
                throw ProcessingConfigError(path: step.path, "the clamav step needs a top-level clamav: {address: host:port}")
            }
            if steps.contains(where: { $0.name == parsed.name }) {
                throw ProcessingConfigError(path: step.path, "\(parsed.name) is listed twice")
            }
            steps.append(parsed)
        }
        var deliverTo: [String] = []
        for target in try fields["deliver_to"]?.list() ?? [] {
            let name = try target.string()
            guard let known = config.targets[name] else {
                let names = config.targets.keys.sorted().joined(separator: ", ")
                throw ProcessingConfigError(path: target.path, "no target named \"\(name)\" (targets: \(names.isEmpty ? "none" : names))")
            }
            if known.pathTemplate.contains("{sha256}"), !steps.contains(.sha256) {
                throw ProcessingConfigError(path: target.path, "target \"\(name)\" uses {sha256}, which needs the sha256 step here")
            }
            deliverTo.append(name)
        }
        self.init(
            steps: steps,
            onReject: try fields["on_reject"]?.choice(of: RejectAction.self) ?? .delete,
            onError: try fields["on_error"]?.choice(of: StepErrorOutcome.self) ?? .reject,
            maxAttempts: try fields["max_attempts"]?.integer(in: 1...100) ?? 5,
            retryBackoff: .milliseconds(try fields["retry_backoff_ms"]?.integer(in: 1...3_600_000) ?? 1000),
            deliverTo: deliverTo)
    }

    private static func step(_ entry: Entry) throws(ProcessingConfigError) -> ProcessingStep {
        let known = "clamav, sniff-mime, sha256, webhook: {url, timeout_ms}"
        if let name = entry.value as? String {
            switch name {
            case "clamav": return .clamav
            case "sniff-mime": return .sniffMime
            case "sha256": return .sha256
            case "webhook": throw ProcessingConfigError(path: entry.path, "webhook needs {url, timeout_ms}")
            default: throw ProcessingConfigError(path: entry.path, "unknown step \"\(name)\" (known: \(known))")
            }
        }
        let fields = try entry.map()
        guard fields.count == 1, let webhook = fields["webhook"] else {
            throw ProcessingConfigError(path: entry.path, "unknown step \(fields.keys.sorted()) (known: \(known))")
        }
        let settings = try webhook.map(allowing: ["url", "timeout_ms"])
        guard let url = settings["url"] else { throw ProcessingConfigError(path: webhook.path, "url is required") }
        return .webhook(
            url: try url.httpURL(),
            timeout: .milliseconds(try settings["timeout_ms"]?.integer(in: 1...600_000) ?? 5000))
    }
}

/// Where ready versions are copied.
public struct DeliveryTarget: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case s3(S3Target)
        /// A directory on this machine (or a mount every replica shares).
        case file(directory: String)
    }

    public var name: String
    public var kind: Kind
    /// The key (or relative path) of a copy: `{bucket}`, `{name}` and `{sha256}` are filled in;
    /// a template that is empty or ends in `/` gets `{bucket}/{name}` appended.
    public var pathTemplate: String

    public init(name: String, kind: Kind, prefix: String) {
        self.name = name
        self.kind = kind
        self.pathTemplate = prefix.isEmpty || prefix.hasSuffix("/") ? prefix + "{bucket}/{name}" : prefix
    }

    /// The copy's key for one version.
    public func path(bucket: String, name: String, sha256: String?) -> String {
        pathTemplate
            .replacingOccurrences(of: "{bucket}", with: bucket)
            .replacingOccurrences(of: "{sha256}", with: sha256 ?? "")
            .replacingOccurrences(of: "{name}", with: name)
    }

    init(name: String, _ entry: Entry, environment: [String: String]) throws(ProcessingConfigError) {
        let fields = try entry.map(allowing: [
            "type", "endpoint", "bucket", "region", "prefix", "access_key_env", "secret_key_env", "force_path_style", "path",
        ])
        guard let type = fields["type"] else { throw ProcessingConfigError(path: entry.path, "type is required (s3 or file)") }
        let prefix = try fields["prefix"]?.string() ?? ""
        var rest = prefix
        for placeholder in ["{bucket}", "{name}", "{sha256}"] { rest = rest.replacingOccurrences(of: placeholder, with: "") }
        if rest.contains("{") || rest.contains("}") {
            throw ProcessingConfigError(path: fields["prefix"]!.path, "only {bucket}, {name} and {sha256} may be filled in")
        }
        func required(_ key: String) throws(ProcessingConfigError) -> Entry {
            guard let value = fields[key] else { throw ProcessingConfigError(path: entry.path, "\(key) is required for type \(try type.string())") }
            return value
        }
        func unused(_ keys: [String]) throws(ProcessingConfigError) {
            for key in keys where fields[key] != nil {
                throw ProcessingConfigError(path: fields[key]!.path, "not a setting of type \(try type.string())")
            }
        }
        switch try type.string() {
        case "s3":
            try unused(["path"])
            func secret(_ key: String) throws(ProcessingConfigError) -> String {
                let variable = try required(key)
                let name = try variable.string()
                guard let value = environment[name], !value.isEmpty else {
                    throw ProcessingConfigError(path: variable.path, "the environment variable \(name) is not set")
                }
                return value
            }
            let target = S3Target(
                endpoint: try required("endpoint").httpURL(), bucket: try required("bucket").string(),
                region: try fields["region"]?.string() ?? "us-east-1",
                accessKeyID: try secret("access_key_env"), secretAccessKey: try secret("secret_key_env"),
                forcePathStyle: try fields["force_path_style"]?.boolean() ?? true)
            self.init(name: name, kind: .s3(target), prefix: prefix)
        case "file":
            try unused(["endpoint", "bucket", "region", "access_key_env", "secret_key_env", "force_path_style"])
            let directory = try required("path")
            guard try directory.string().hasPrefix("/") else {
                throw ProcessingConfigError(path: directory.path, "expected an absolute path")
            }
            self.init(name: name, kind: .file(directory: try directory.string()), prefix: prefix)
        case let other:
            throw ProcessingConfigError(path: type.path, "unknown target type \"\(other)\" (s3 or file)")
        }
    }
}

/// An S3 bucket to deliver to, with the keys read from the environment at start-up.
public struct S3Target: Sendable, Equatable {
    public var endpoint: URL
    public var bucket: String
    public var region: String
    public var accessKeyID: String
    public var secretAccessKey: String
    /// Path-style addressing (`endpoint/bucket/key`), as MinIO and SeaweedFS need; false for
    /// virtual-hosted buckets.
    public var forcePathStyle: Bool

    public init(
        endpoint: URL, bucket: String, region: String, accessKeyID: String, secretAccessKey: String, forcePathStyle: Bool = true
    ) {
        self.forcePathStyle = forcePathStyle
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }
}

/// A parsed YAML value with the path that names it in errors.
struct Entry {
    var value: Any
    var path: String

    init(_ value: Any, path: String) {
        self.value = value
        self.path = path
    }

    func map(allowing keys: Set<String>? = nil) throws(ProcessingConfigError) -> [String: Entry] {
        guard let map = value as? [AnyHashable: Any] else { throw ProcessingConfigError(path: path, "expected a mapping") }
        var entries: [String: Entry] = [:]
        for (key, value) in map {
            let name = "\(key.base)"
            let child = path.isEmpty ? name : "\(path).\(name)"
            if let keys, !keys.contains(name) {
                throw ProcessingConfigError(path: child, "unknown setting (known: \(keys.sorted().joined(separator: ", ")))")
            }
            entries[name] = Entry(value, path: child)
        }
        return entries
    }

    func list() throws(ProcessingConfigError) -> [Entry] {
        guard let list = value as? [Any] else { throw ProcessingConfigError(path: path, "expected a list") }
        return list.enumerated().map { Entry($1, path: "\(path)[\($0)]") }
    }

    func string() throws(ProcessingConfigError) -> String {
        guard let text = value as? String, !text.isEmpty else { throw ProcessingConfigError(path: path, "expected a non-empty string") }
        return text
    }

    func boolean() throws(ProcessingConfigError) -> Bool {
        guard let value = value as? Bool else { throw ProcessingConfigError(path: path, "expected true or false") }
        return value
    }

    func integer(in range: ClosedRange<Int>) throws(ProcessingConfigError) -> Int {
        guard let number = value as? Int, range.contains(number) else {
            throw ProcessingConfigError(path: path, "expected a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    func choice<Choice: RawRepresentable & CaseIterableChoices>(of type: Choice.Type) throws(ProcessingConfigError) -> Choice
    where Choice.RawValue == String {
        let text = try string()
        guard let choice = Choice(rawValue: text) else {
            throw ProcessingConfigError(path: path, "expected one of \(Choice.names), got \"\(text)\"")
        }
        return choice
    }

    func httpURL() throws(ProcessingConfigError) -> URL {
        let text = try string()
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
            throw ProcessingConfigError(path: path, "expected an http(s) URL, got \"\(text)\"")
        }
        return url
    }
}

/// The values a choice setting accepts, for its error message.
protocol CaseIterableChoices {
    static var names: String { get }
}

extension RejectAction: CaseIterableChoices {
    static var names: String { "delete, quarantine" }
}

extension StepErrorOutcome: CaseIterableChoices {
    static var names: String { "reject, pass" }
}
