import Foundation

/// A signed-in operator's console session as every node reads it: kept by the SHA-256 of
/// its cookie id (never the id), with the hash of the credential it was opened with, that
/// credential's key id for the logs, and when it was opened and last used.
public struct ConsoleSession: Codable, Sendable, Equatable {
    public var credentialHash: String
    public var keyID: String
    public var created: Date
    public var lastSeen: Date

    public init(credentialHash: String, keyID: String, created: Date, lastSeen: Date) {
        self.credentialHash = credentialHash; self.keyID = keyID; self.created = created; self.lastSeen = lastSeen
    }
}
