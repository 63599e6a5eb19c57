import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files and directories that hold keys or secrets, owner-only from the moment they
/// exist: created by `open(2)` and `mkdir(2)` with mode 0600 and 0700 (never created
/// with the umask's mode and narrowed afterwards, which leaves a window in which others
/// can open them).
public enum SecretFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Creates `path` (which must not exist: `O_EXCL`, and no symbolic link is followed)
    /// with mode 0600, writes `contents` and syncs it to disk.
    public static func create(_ path: String, contents: [UInt8]) throws(Failure) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        while written < contents.count {
            let n = contents[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                let reason = String(cString: strerror(errno))
                unlink(path)
                throw Failure(description: "cannot write \(path): \(reason)")
            }
            written += n
        }
        guard fsync(fd) == 0 else { throw Failure(description: "cannot sync \(path): \(String(cString: strerror(errno)))") }
    }

    /// Replaces `path` with `contents`, owner-only throughout: written to a new file
    /// beside it, then renamed over it.
    public static func replace(_ path: String, contents: [UInt8]) throws(Failure) {
        let temporary = path + ".tmp-\(getpid())"
        unlink(temporary)
        try create(temporary, contents: contents)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw Failure(description: "cannot replace \(path): \(reason)")
        }
    }

    /// Creates the directory (and its missing parents) with mode 0700; an existing one is
    /// narrowed to 0700 when it is wider.
    public static func makeDirectory(_ path: String) throws(Failure) {
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            built += "/" + component
            if mkdir(built, 0o700) != 0, errno != EEXIST {
                throw Failure(description: "cannot create directory \(built): \(String(cString: strerror(errno)))")
            }
        }
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
            throw Failure(description: "\(path) is not a directory")
        }
        if status.st_mode & 0o077 != 0, chmod(path, 0o700) != 0 {
            throw Failure(description: "cannot make \(path) owner-only: \(String(cString: strerror(errno)))")
        }
    }

    /// From here on, every file and directory this process creates (SQLite databases and
    /// their journals among them) is owner-only.
    public static func ownerOnlyFromNowOn() {
        umask(0o077)
    }
}
