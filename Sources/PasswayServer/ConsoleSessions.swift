import Crypto
import EMV
import Foundation
import Synchronization
import Vault

/// The console's signed-in operators, in this process's memory: a session is an id in an
/// HttpOnly cookie (kept here only as its SHA-256), the hash of the credential it was
/// opened with (checked again on every request, so a revoked key ends its sessions), a
/// CSRF token that every form carries, and when it was last used. A session idle for
/// `idleTimeout` or older than `maxAge` is gone; a restart signs everyone out.
final class ConsoleSessions: Sendable {
    struct Session: Sendable, Equatable {
        var credentialHash: String
        /// The operator's identity in logs: the credential's key id.
        var keyID: String
        var csrf: String
        var created: Date
        var lastSeen: Date
    }

    static let idleTimeout: TimeInterval = 15 * 60
    static let maxAge: TimeInterval = 12 * 3_600
    static let capacity = 10_000

    let sessions = Mutex<[String: Session]>([:])
    let now: @Sendable () -> Date

    init(now: @escaping @Sendable () -> Date = Date.init) { self.now = now }

    static func key(_ id: String) -> String { Hex.encode(Array(SHA256.hash(data: Array(id.utf8)))) }

    /// A random token for a cookie or a form: 43 letters and digits (256 bits).
    static func token() -> String { SecureRandom.alphanumeric(43) }

    /// Opens a session; returns its id (for the cookie) and the session.
    func open(credentialHash: String, keyID: String) -> (id: String, session: Session) {
        let id = Self.token()
        let at = now()
        let session = Session(credentialHash: credentialHash, keyID: keyID, csrf: Self.token(), created: at, lastSeen: at)
        sessions.withLock { all in
            if all.count >= Self.capacity {
                all = all.filter { !Self.expired($0.value, at: at) }
                if all.count >= Self.capacity, let oldest = all.min(by: { $0.value.lastSeen < $1.value.lastSeen }) { all.removeValue(forKey: oldest.key) }
            }
            all[Self.key(id)] = session
        }
        return (id, session)
    }

    /// The live session with this id, its idle clock restarted; nil (and forgotten) when
    /// it has expired.
    func touch(_ id: String) -> Session? {
        let at = now()
        let key = Self.key(id)
        return sessions.withLock { all in
            guard var session = all[key] else { return nil }
            if Self.expired(session, at: at) {
                all.removeValue(forKey: key)
                return nil
            }
            session.lastSeen = at
            all[key] = session
            return session
        }
    }

    func close(_ id: String) { _ = sessions.withLock { $0.removeValue(forKey: Self.key(id)) } }

    static func expired(_ session: Session, at: Date) -> Bool {
        at.timeIntervalSince(session.lastSeen) >= idleTimeout || at.timeIntervalSince(session.created) >= maxAge
    }

    /// Whether `given` is the session's CSRF token, compared in constant time.
    static func csrfMatches(_ session: Session, _ given: String?) -> Bool {
        guard let given else { return false }
        return SecureRandom.constantTimeEquals(session.csrf, given)
    }
}
