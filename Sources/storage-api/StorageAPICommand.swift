import ArgumentParser
import CProcess
import Foundation
import StorageServer
import StorageService

@main
struct StorageAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage-api",
        abstract: "A Supabase-compatible object storage server.",
        discussion: ServerConfiguration.documentation,
        subcommands: [Serve.self, Migrate.self, Keys.self, Reconcile.self],
        defaultSubcommand: Serve.self)
}

/// Loads the configuration, or prints its one-line error and exits.
func loadConfiguration(for purpose: ServerConfiguration.Purpose) throws -> ServerConfiguration {
    do {
        return try ServerConfiguration.fromEnvironment(ProcessInfo.processInfo.environment, for: purpose)
    } catch {
        FileHandle.standardError.write(Data("\(error.description)\n".utf8))
        throw ExitCode(78)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending migrations, then serve the Storage API.",
        discussion: ServerConfiguration.documentation)

    func run() async throws {
        let configuration = try loadConfiguration(for: .serve)
        returnLargeBuffersToTheSystem()
        do {
            try await StorageServer.serve(configuration)
        } catch {
            // One line for the operator, whatever layer the failure surfaced through.
            FileHandle.standardError.write(Data("storage-api stopped: \(StorageServer.describe(error))\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Keeps memory flat across large transfers. glibc raises its mmap threshold each time a large
/// block is freed, after which the multi-MiB buffers of S3 parts and image transforms come from
/// per-thread heaps that never shrink (measured: +66 MiB peak RSS on a 1 GiB chunked upload to
/// S3, against +18 MiB with the threshold fixed). A fixed threshold keeps such blocks in their
/// own mappings, given back as soon as they are freed.
func returnLargeBuffersToTheSystem() {
    _ = cprocess_fix_mmap_threshold(1 << 20)
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending migrations to DATABASE_URL and exit.",
        discussion: ServerConfiguration.documentation)

    func run() async throws {
        let configuration = try loadConfiguration(for: .migrate)
        do {
            try await StorageServer.migrate(configuration)
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("migration failed: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the anon and service-role keys for AUTH_JWT_SECRET (as shell assignments).",
        discussion: ServerConfiguration.documentation)

    func run() async throws {
        let configuration = try loadConfiguration(for: .keys)
        let keys = try StorageServer.roleKeys(configuration)
        print("ANON_KEY=\(keys.anon)")
        print("SERVICE_KEY=\(keys.service)")
    }
}

struct Reconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare the backend with the database: remove bytes no row refers to, report rows whose bytes are missing.",
        discussion: """
            Prints one JSON object per line: {"stray": key, "removed": bool} for backend bytes no \
            object row, resumable upload or queued clean-up refers to, {"missing": "bucket/name", \
            "key": key} for rows whose bytes are gone (never changed), and a final {"summary": …}. \
            Exits 0 when the run completed, whatever it found.

            """ + ServerConfiguration.documentation)

    @Flag(help: "List what would be removed; remove nothing.")
    var dryRun = false

    @Option(help: "Only bytes older than this many seconds can be strays (an upload's bytes exist a moment before its row).")
    var minAge: Int = 3600

    func run() async throws {
        let configuration = try loadConfiguration(for: .serve)
        let summary: ReconcileSummary
        do {
            summary = try await StorageServer.reconcile(configuration, dryRun: dryRun, minimumAge: .seconds(max(minAge, 0))) { finding in
                switch finding {
                case .stray(let key, let removed):
                    printJSON(["stray": .string(key), "removed": .bool(removed)])
                case .missing(let bucketID, let name, let key):
                    printJSON(["missing": .string("\(bucketID)/\(name)"), "key": .string(key)])
                }
            }
        } catch {
            FileHandle.standardError.write(Data("reconcile failed: \(StorageServer.describe(error))\n".utf8))
            throw ExitCode(1)
        }
        let totals = try JSONEncoder().encode(summary)
        print("{\"summary\":\(String(decoding: totals, as: UTF8.self))}")
    }
}

/// One finding as a line of JSON.
private enum JSONScalar: Encodable {
    case string(String)
    case bool(Bool)

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let text): try container.encode(text)
        case .bool(let flag): try container.encode(flag)
        }
    }
}

private func printJSON(_ object: [String: JSONScalar]) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    if let data = try? encoder.encode(object) { print(String(decoding: data, as: UTF8.self)) }
}
