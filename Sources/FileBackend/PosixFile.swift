import ObjectStore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import CFileSystem

/// Blocking POSIX file primitives. Every function here blocks; callers run them on a thread pool.
enum PosixFile {
    static let extendedAttributePrefix = "user.supabase."

    /// Metadata `stat` reports.
    struct Status {
        var size: Int64
        var modified: Date
        var isRegularFile: Bool
    }

    static func error(_ operation: String, path: String, errno code: Int32 = errno) -> ObjectStoreError {
        let reason = String(cString: strerror(code))
        switch code {
        case ENOENT, ENOTDIR:
            return ObjectStoreError(.notFound, "\(operation) \(path): \(reason)")
        case ENOSPC, EDQUOT:
            return ObjectStoreError(.noSpace, "\(operation): \(reason)")
        case ENAMETOOLONG:
            return ObjectStoreError(.invalidKey, "\(operation): \(reason)")
        default:
            return ObjectStoreError(.io, "\(operation) \(path): \(reason)")
        }
    }

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(ObjectStoreError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            throw error("open", path: path)
        }
    }

    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Writes all of `bytes` at the descriptor's position, retrying short and interrupted writes.
    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(ObjectStoreError) {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw error("write", path: path)
            }
            offset += written
        }
    }

    /// Reads up to `length` bytes at `offset`; an empty buffer means end of file.
    static func read(_ fd: Int32, offset: Int64, length: Int, path: String) throws(ObjectStoreError) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        let result: Int = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { bytes in
            while true {
                let count = pread(fd, bytes.baseAddress!, length, off_t(offset))
                if count < 0, errno == EINTR { continue }
                return count < 0 ? -Int(errno) : count
            }
        }
        if result < 0 { throw error("read", path: path, errno: Int32(-result)) }
        return buffer
    }

    static func fsync(_ fd: Int32, path: String) throws(ObjectStoreError) {
        if Glibc.fsync(fd) != 0 { throw error("fsync", path: path) }
    }

    /// Queues the file's dirty pages for writing to disk and returns at once. A hint: a failure
    /// here is reported by the `fsync` that follows, so its result is not checked.
    static func startWriteback(_ fd: Int32) {
        _ = cfs_start_writeback(fd)
    }

    /// Flushes a directory entry change (a rename) to disk.
    static func fsyncDirectory(_ path: String) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = Glibc.fsync(fd)
        _ = Glibc.close(fd)
    }

    static func status(_ path: String) throws(ObjectStoreError) -> Status {
        var info = stat()
        guard stat(path, &info) == 0 else { throw error("stat", path: path) }
        return Status(info)
    }

    static func status(fd: Int32, path: String) throws(ObjectStoreError) -> Status {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw error("stat", path: path) }
        return Status(info)
    }

    /// Creates `path` and its missing parents.
    static func makeDirectories(_ path: String) throws(ObjectStoreError) {
        if mkdir(path, 0o755) == 0 || errno == EEXIST { return }
        // A file where a folder must go is a broken layout, not a missing object.
        if errno == ENOTDIR { throw ObjectStoreError(.io, "mkdir \(path): a path component is not a folder") }
        guard errno == ENOENT else { throw error("mkdir", path: path) }
        let parent = parentDirectory(of: path)
        guard parent != path, !parent.isEmpty else { throw error("mkdir", path: path) }
        try makeDirectories(parent)
        if mkdir(path, 0o755) != 0, errno != EEXIST { throw error("mkdir", path: path) }
    }

    /// The names in `directory` (without `.` and `..`), and whether each is a folder.
    static func entries(of directory: String) throws(ObjectStoreError) -> [(name: String, isDirectory: Bool)] {
        guard let handle = opendir(directory) else { throw error("opendir", path: directory) }
        defer { closedir(handle) }
        var entries: [(name: String, isDirectory: Bool)] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard name != ".", name != ".." else { continue }
            var isDirectory = entry.pointee.d_type == UInt8(DT_DIR)
            if entry.pointee.d_type == UInt8(DT_UNKNOWN) {
                var info = stat()
                isDirectory = stat("\(directory)/\(name)", &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
            }
            entries.append((name, isDirectory))
        }
        return entries
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func rename(_ source: String, to destination: String) throws(ObjectStoreError) {
        if Glibc.rename(source, destination) != 0 { throw error("rename", path: destination) }
    }

    /// A second name for an existing file.
    static func link(_ source: String, to destination: String) throws(ObjectStoreError) {
        if Glibc.link(source, destination) != 0 { throw error("link", path: destination) }
    }

    static func seek(_ fd: Int32, to offset: Int64, path: String) throws(ObjectStoreError) {
        if lseek(fd, off_t(offset), SEEK_SET) < 0 { throw error("seek", path: path) }
    }

    /// Takes the file's exclusive lock for this descriptor, or throws `busy` if another holds it.
    /// File systems without locks (some network mounts) are written to unlocked.
    static func lockExclusively(_ fd: Int32, path: String) throws(ObjectStoreError) {
        guard cfs_try_lock_exclusive(fd) != 0 else { return }
        switch errno {
        case EAGAIN, EACCES: throw ObjectStoreError(.busy, "\(path) is being written by another request")
        case ENOLCK, EINVAL, ENOSYS: return
        default: throw error("lock", path: path)
        }
    }

    static func truncate(_ fd: Int32, to size: Int64, path: String) throws(ObjectStoreError) {
        if ftruncate(fd, off_t(size)) != 0 { throw error("truncate", path: path) }
    }

    /// Removes a file; a missing file is not an error.
    static func unlink(_ path: String) throws(ObjectStoreError) {
        if Glibc.unlink(path) != 0, errno != ENOENT { throw error("unlink", path: path) }
    }

    /// Removes empty directories from `directory` upwards, stopping at `stop` or the first
    /// directory that is not empty.
    static func removeEmptyDirectories(from directory: String, upTo stop: String) {
        var current = directory
        while current.count > stop.count, current.hasPrefix(stop + "/") {
            guard rmdir(current) == 0 else { return }
            current = parentDirectory(of: current)
        }
    }

    static func setAttribute(_ fd: Int32, name: String, value: String) {
        // Best effort: a filesystem without user xattrs still stores bytes; metadata lives in Postgres.
        _ = value.withCString { pointer in
            cfs_fsetxattr(fd, extendedAttributePrefix + name, pointer, strlen(pointer))
        }
    }

    static func attribute(_ path: String, name: String) -> String? {
        var storage = [CChar](repeating: 0, count: 1024)
        let length = cfs_getxattr(path, extendedAttributePrefix + name, &storage, storage.count - 1)
        guard length >= 0 else { return nil }
        return String(decoding: storage[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Copies a whole file inside the kernel.
    static func copyContents(from source: Int32, to destination: Int32, size: Int64, path: String) throws(ObjectStoreError) {
        var remaining = size
        while remaining > 0 {
            let copied = cfs_copy_file_range(source, destination, Int(min(remaining, 1 << 30)))
            if copied < 0 {
                if errno == EINTR { continue }
                throw error("copy", path: path)
            }
            if copied == 0 { break }
            remaining -= Int64(copied)
        }
    }
}

extension PosixFile.Status {
    init(_ info: stat) {
        self.size = Int64(info.st_size)
        let seconds = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
        self.modified = Date(timeIntervalSince1970: seconds)
        self.isRegularFile = (info.st_mode & S_IFMT) == S_IFREG
    }
}
