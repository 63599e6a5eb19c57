import Crypto
import EMV
import Foundation
import Participants
import Synchronization
import Vault

/// The console's signed-in operators, in the platform's database, so that every node knows
/// every session (a load balancer may send each request to another node). A session is an
/// id in an HttpOnly cookie, kept in the store only as its SHA-256, with the hash of the
/// credential it was opened with (checked again on every request, so a revoked key ends
/// its sessions) and when it was opened and last used. Its CSRF token is an HMAC of the
/// cookie id, so nothing secret is stored. A session idle for `idleTimeout` or older than
/// `maxAge` is gone; signing out ends it on every node.
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
    /// A session's last use is written again only when it is older than this (a write per
    /// page would be a write per click).
    static let touchInterval: TimeInterval = 60

    let store: any ParticipantStore
    let now: @Sendable () -> Date

    init(store: any ParticipantStore, now: @escaping @Sendable () -> Date = Date.init) { self.store = store; self.now = now }

    static func key(_ id: String) -> String { Hex.encode(Array(SHA256.hash(data: Array(id.utf8)))) }

    /// A random token for a cookie or a form: 43 letters and digits (256 bits).
    static func token() -> String { SecureRandom.alphanumeric(43) }

    /// The session's CSRF token: an HMAC of its cookie id, which only the cookie's holder
    /// (and the server, each request) can compute.
    static func csrf(_ id: String) -> String {
        Hex.encode(Array(HMAC<SHA256>.authenticationCode(for: Array("console csrf".utf8), using: SymmetricKey(data: Array(id.utf8)))))
    }

    /// Opens a session; returns its id (for the cookie) and the session. Expired sessions
    /// are cleared out first.
    func open(credentialHash: String, keyID: String) async throws -> (id: String, session: Session) {
        let id = Self.token()
        let at = now()
        try await store.deleteConsoleSessions(idleBefore: at.addingTimeInterval(-Self.idleTimeout), openedBefore: at.addingTimeInterval(-Self.maxAge))
        try await store.saveConsoleSession(key: Self.key(id), ConsoleSession(credentialHash: credentialHash, keyID: keyID, created: at, lastSeen: at))
        return (id, Session(credentialHash: credentialHash, keyID: keyID, csrf: Self.csrf(id), created: at, lastSeen: at))
    }

    /// The live session with this id, its idle clock restarted; nil (and removed) when it
    /// has expired.
    func touch(_ id: String) async throws -> Session? {
        let at = now()
        let key = Self.key(id)
        guard var stored = try await store.consoleSession(key: key) else { return nil }
        if Self.expired(stored, at: at) {
            try await store.deleteConsoleSession(key: key)
            return nil
        }
        if at.timeIntervalSince(stored.lastSeen) >= Self.touchInterval {
            stored.lastSeen = at
            try await store.saveConsoleSession(key: key, stored)
        }
        return Session(credentialHash: stored.credentialHash, keyID: stored.keyID, csrf: Self.csrf(id), created: stored.created, lastSeen: stored.lastSeen)
    }

    func close(_ id: String) async throws { try await store.deleteConsoleSession(key: Self.key(id)) }

    static func expired(_ session: ConsoleSession, at: Date) -> Bool {
        at.timeIntervalSince(session.lastSeen) >= idleTimeout || at.timeIntervalSince(session.created) >= maxAge
    }

    /// Whether `given` is the session's CSRF token, compared in constant time.
    static func csrfMatches(_ session: Session, _ given: String?) -> Bool {
        guard let given else { return false }
        return SecureRandom.constantTimeEquals(session.csrf, given)
    }
}
