import Database
import Foundation
public import Logging
import ObjectStore
import StorageCore

/// What `storage-api reconcile` found, one finding at a time.
public enum ReconcileFinding: Sendable {
    /// Bytes in the backend that no row refers to; `removed` unless it was a dry run.
    case stray(key: String, removed: Bool)
    /// An object row whose bytes are not in the backend (reported, never changed).
    case missing(bucketID: String, name: String, key: String)
}

/// The totals of one reconcile run.
public struct ReconcileSummary: Sendable, Codable, Equatable {
    /// Backend keys looked at.
    public var keysChecked = 0
    /// Keys younger than the minimum age, left alone (an upload may be about to write their row).
    public var keysTooYoung = 0
    /// Keys a queued clean-up is about already.
    public var keysQueued = 0
    public var strays = 0
    public var removed = 0
    public var rowsChecked = 0
    public var missing = 0

    public init() {}
}

extension StorageService {
    /// Compares the backend with the rows: bytes no object row, resumable upload or queued
    /// clean-up refers to are strays (removed unless `dryRun`); rows whose bytes are gone are
    /// reported. Keys younger than `minimumAge` are never strays: between an upload's last
    /// byte and its row's COMMIT, its bytes exist without a row.
    public func reconcile(
        dryRun: Bool, minimumAge: Duration, logger: Logger, report: @Sendable (ReconcileFinding) -> Void
    ) async throws -> ReconcileSummary {
        var summary = ReconcileSummary()
        let cutoff = Date().addingTimeInterval(-Double(minimumAge.components.seconds))
        let tenant = settings.tenantID
        for area in [StoredArea.objects(tenant), .renders(tenant), .resumable(tenant)] {
            try await store.listKeys(under: area.prefix, batchSize: 500, logger: logger) { batch in
                summary.keysChecked += batch.count
                let old = batch.filter { ($0.lastModified ?? .distantFuture) < cutoff }.map(\.key)
                summary.keysTooYoung += batch.count - old.count
                let strays = try await self.strays(among: old, in: area, summary: &summary, logger: logger)
                summary.strays += strays.count
                if !dryRun, !strays.isEmpty {
                    try await store.deleteObjects(strays, logger: logger)
                    summary.removed += strays.count
                }
                for key in strays { report(.stray(key: key, removed: !dryRun)) }
            }
        }
        var after: UUID?
        while true {
            let rows = try await database.objectRows(after: after, limit: 500, logger: logger)
            guard let last = rows.last else { break }
            after = last.id
            summary.rowsChecked += rows.count
            for (row, key) in try await missingBytes(rows, logger: logger) {
                summary.missing += 1
                report(.missing(bucketID: row.bucketID, name: row.name, key: key))
            }
        }
        return summary
    }

    /// The keys of `keys` (all in `area`) that nothing refers to.
    private func strays(among keys: [String], in area: StoredArea, summary: inout ReconcileSummary, logger: Logger) async throws -> [String] {
        guard !keys.isEmpty else { return [] }
        // A queued clean-up names the key itself, or for renders the version's variant folder.
        let owners = Dictionary(keys.map { ($0, area.cleanupKey(of: $0)) }, uniquingKeysWith: { first, _ in first })
        let queued = try await database.keysWithQueuedCleanups(Array(Set(owners.values)), logger: logger)
        let unqueued = keys.filter { !queued.contains(owners[$0] ?? $0) }
        summary.keysQueued += keys.count - unqueued.count
        switch area {
        case .objects, .renders:
            var candidates: [String: [StoredVersion]] = [:]
            for key in unqueued { candidates[key] = area.versions(of: key) }
            let referenced = try await database.referencedVersions(Array(Set(candidates.values.flatMap { $0 })), logger: logger)
            return unqueued.filter { key in !(candidates[key] ?? []).contains(where: referenced.contains) }
        case .resumable:
            let versions = Dictionary(unqueued.map { ($0, area.resumableVersion(of: $0)) }, uniquingKeysWith: { first, _ in first })
            let live = try await database.resumableVersions(Array(Set(versions.values.compactMap { $0 })), logger: logger)
            return unqueued.filter { key in versions[key].flatMap { $0 }.map { !live.contains($0) } ?? true }
        }
    }

    /// The rows of `rows` whose bytes the backend does not have, eight HEADs at a time.
    private func missingBytes(_ rows: [StoredObjectRow], logger: Logger) async throws -> [(StoredObjectRow, String)] {
        let store = self.store
        let keys = rows.map { backendKey(bucketID: $0.bucketID, name: $0.name, version: $0.version) }
        var missing: [(StoredObjectRow, String)] = []
        var next = 0
        try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            func add() {
                guard next < rows.count else { return }
                let index = next
                next += 1
                group.addTask {
                    do {
                        _ = try await store.headObject(keys[index], logger: logger)
                        return (index, false)
                    } catch let error as ObjectStoreError where error.code == .notFound {
                        return (index, true)
                    }
                }
            }
            for _ in 0..<8 { add() }
            while let (index, isMissing) = try await group.next() {
                if isMissing { missing.append((rows[index], keys[index])) }
                add()
            }
        }
        return missing.sorted { $0.1 < $1.1 }
    }
}

/// The three places the server writes bytes, and how a key in each maps back to its owner.
enum StoredArea {
    /// `<tenant>/<bucket>/<name>/<version>` (or without the version: rows from before versions).
    case objects(String)
    /// `__render/<tenant>/<bucket>/<name>/<version>/<variant>`.
    case renders(String)
    /// `__resumable/<tenant>/<version>/<piece>`.
    case resumable(String)

    var prefix: String {
        switch self {
        case .objects(let tenant): tenant
        case .renders(let tenant): "__render/\(tenant)"
        case .resumable(let tenant): "__resumable/\(tenant)"
        }
    }

    /// The object versions `key` could be the bytes of (or a variant of).
    func versions(of key: String) -> [StoredVersion] {
        var objectKey = Substring(key)
        let tenant: String
        switch self {
        case .objects(let name):
            tenant = name
        case .renders(let name):
            tenant = name
            objectKey = objectKey.dropFirst("__render/".count)
            guard let slash = objectKey.lastIndex(of: "/") else { return [] }
            objectKey = objectKey[..<slash]
        case .resumable:
            return []
        }
        guard objectKey.hasPrefix(tenant + "/") else { return [] }
        let segments = objectKey.dropFirst(tenant.count + 1).split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count >= 2 else { return [] }
        let bucket = String(segments[0])
        var versions = [StoredVersion(bucketID: bucket, name: segments.dropFirst().joined(separator: "/"), version: nil)]
        if segments.count >= 3, let version = segments.last {
            versions.append(StoredVersion(
                bucketID: bucket, name: segments.dropFirst().dropLast().joined(separator: "/"), version: String(version)))
        }
        return versions
    }

    /// The version a resumable piece belongs to.
    func resumableVersion(of key: String) -> String? {
        let segments = key.dropFirst(prefix.count + 1).split(separator: "/")
        return segments.first.map(String.init)
    }

    /// The key a queued clean-up of `key` would name.
    func cleanupKey(of key: String) -> String {
        guard case .renders = self, let slash = key.lastIndex(of: "/") else { return key }
        return String(key[..<slash])
    }
}
