import Foundation

/// The participants' storage seam: issuers, wallets, acquirers, markets and the hashes
/// of API keys. SQLite and PostgreSQL implement it (`Storage`) and pass the same
/// contract tests.
public protocol ParticipantStore: Sendable {
    /// Inserts or replaces (by id).
    func saveIssuer(_ issuer: Issuer) async throws
    func issuer(id: String) async throws -> Issuer?
    func issuers() async throws -> [Issuer]
    func saveWallet(_ wallet: Wallet) async throws
    func wallet(id: String) async throws -> Wallet?
    func wallets() async throws -> [Wallet]
    func saveAcquirer(_ acquirer: Acquirer) async throws
    func acquirer(id: String) async throws -> Acquirer?
    func acquirers() async throws -> [Acquirer]
    func saveMarket(_ market: Market) async throws
    func market(country: String) async throws -> Market?
    func markets() async throws -> [Market]
    /// Writes a market's sweep progress if the stored market is still running the sweep of
    /// that id (a change of state that started another wins). False when it is not.
    func updateMarketSweep(country: String, _ sweep: Market.Sweep) async throws -> Bool
    /// Saves an existing market as given but for its sweep, which stays as stored: progress
    /// a sweep wrote since the market was read is never set back.
    func saveMarketKeepingSweep(_ market: Market) async throws

    /// Credentials: only a SHA-256 of each API key is kept.
    func saveCredential(hash: String, participant: Participant) async throws
    func participant(credentialHash: String) async throws -> Participant?
    /// Every credential's hash and participant.
    func credentials() async throws -> [(hash: String, participant: Participant)]
    /// Removes a credential: false when there was none with this hash.
    func deleteCredential(hash: String) async throws -> Bool

    /// The operator's audit trail: appended to, never changed; read in order after a seq.
    func appendOperatorAudit(_ entry: OperatorAuditEntry) async throws
    func operatorAudit(after seq: Int64, limit: Int) async throws -> [OperatorAuditEntry]

    /// Console sessions, by the SHA-256 of the cookie id: inserted or replaced.
    func saveConsoleSession(key: String, _ session: ConsoleSession) async throws
    func consoleSession(key: String) async throws -> ConsoleSession?
    func deleteConsoleSession(key: String) async throws
    /// Removes every session last used at or before `idleBefore`, or opened at or before
    /// `openedBefore`.
    func deleteConsoleSessions(idleBefore: Date, openedBefore: Date) async throws

    /// Issuers' assets (card art, terms texts): stored once by id (an asset never changes).
    func saveAsset(_ asset: Asset) async throws
    func asset(id: String) async throws -> Asset?
    /// Saves the issuer and appends the wallets' events in one transaction: each event
    /// gets the next `seq`.
    func saveIssuer(_ issuer: Issuer, walletEvents: [WalletEvent]) async throws
    /// A wallet's events after `seq`, oldest first, at most `limit`.
    func walletEvents(walletID: String, after seq: Int64, limit: Int) async throws -> [WalletEvent]
}
