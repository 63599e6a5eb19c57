import Crypto
import EMV
import Foundation
import ISO8583
import NetworkSwitch
import Participants
import Synchronization
import TokenService

/// The network's journal in memory, with the same rules as the stores': a key is claimed
/// once, an ATC spent once, an entry completes a claim.
final class MemoryJournal: AuthorizationJournal {
    struct State {
        var claims: [AuthorizationKey: String] = [:]
        var entries: [String: JournalEntry] = [:]
        var spent: Set<String> = []
        var failing = false
        var failingCompletes = false
        var lost: [String: (at: Date, ifLost: ReversalIfLost?)] = [:]
        var owed: [OwedMessage] = []
        var leases: [String: (node: String, until: Date)] = [:]
        var standIn: [String: (count: Int, amount: Int64)] = [:]
    }
    let state = Mutex(State())

    struct Unavailable: Error {}

    /// Makes every call fail (a database that went away).
    func fail() { state.withLock { $0.failing = true } }

    /// Makes answers fail to be journaled (a process that dies before its answer is written).
    func failCompletes(_ failing: Bool = true) { state.withLock { $0.failingCompletes = failing } }

    var entries: [JournalEntry] { state.withLock { Array($0.entries.values) } }

    func claim(_ key: AuthorizationKey, requestDigest: String, at: Date) async throws -> JournalClaim {
        try state.withLock { s in
            if s.failing { throw Unavailable() }
            if let entry = s.entries[key.description] { return .answered(entry) }
            if let digest = s.claims[key] { return .pending(requestDigest: digest) }
            s.claims[key] = requestDigest
            s.lost[key.description] = (at, nil)
            return .claimed
        }
    }

    func claim(_ key: AuthorizationKey, requestDigest: String, at: Date, spendingATC atc: UInt16, ofToken tokenID: String,
               ifLost: ReversalIfLost?) async throws -> (claim: JournalClaim, atcFresh: Bool, highestSpent: UInt16?) {
        let claim = try await claim(key, requestDigest: requestDigest, at: at)
        guard claim == .claimed else { return (claim, false, nil) }
        return state.withLock { s in
            s.lost[key.description] = (at, ifLost)
            let highest = s.spent.filter { $0.hasPrefix(tokenID + "/") }.compactMap { UInt16($0.dropFirst(tokenID.count + 1)) }.max()
            return (claim, s.spent.insert("\(tokenID)/\(atc)").inserted, highest)
        }
    }

    func complete(_ entry: JournalEntry, owing: OwedMessage?, standIn spend: StandInSpend?) async throws {
        try state.withLock { s in
            if s.failing || s.failingCompletes { throw Unavailable() }
            guard s.entries[entry.key] == nil else { throw JournalError.alreadyAnswered(key: entry.key) }
            if let spend {
                let used = s.standIn[spend.tokenID + "/" + spend.day] ?? (0, 0)
                guard used.count + 1 <= spend.maxCount, used.amount + spend.amountMinor <= spend.maxAmountMinor else {
                    throw JournalError.standInAllowanceExhausted(countReached: used.count + 1 > spend.maxCount)
                }
                s.standIn[spend.tokenID + "/" + spend.day] = (used.count + 1, used.amount + spend.amountMinor)
            }
            s.entries[entry.key] = entry
            s.lost[entry.key] = nil
            if let owing, !s.owed.contains(where: { $0.id == owing.id }) { s.owed.append(owing) }
        }
    }

    func forget(unanswered key: String) async throws -> Bool {
        state.withLock { s in
            guard s.entries[key] == nil, let claim = s.claims.first(where: { $0.key.description == key })?.key else { return false }
            s.claims[claim] = nil
            s.lost[key] = nil
            return true
        }
    }

    func entries(after: String?, limit: Int) async throws -> [JournalEntry] {
        state.withLock { s in Array(s.entries.values.filter { $0.key > (after ?? "") }.sorted { $0.key < $1.key }.prefix(limit)) }
    }

    func unanswered(claimedBefore: Date, limit: Int) async throws -> [UnansweredClaim] {
        state.withLock { s in
            s.claims.compactMap { key, digest -> UnansweredClaim? in
                guard s.entries[key.description] == nil, let lost = s.lost[key.description], lost.at < claimedBefore else { return nil }
                return UnansweredClaim(key: key.description, requestDigest: digest, claimedAt: lost.at, ifLost: lost.ifLost)
            }.sorted { $0.claimedAt < $1.claimedAt }.prefix(limit).map { $0 }
        }
    }

    func entry(_ key: AuthorizationKey) async throws -> JournalEntry? { state.withLock { $0.entries[key.description] } }

    func isPending(_ key: AuthorizationKey) async throws -> Bool {
        state.withLock { $0.claims[key] != nil && $0.entries[key.description] == nil }
    }
}

extension MemoryJournal: OwedMessageStore {
    var owed: [OwedMessage] { state.withLock { $0.owed } }

    func enqueue(_ message: OwedMessage) async throws -> Bool {
        state.withLock { s in
            guard !s.owed.contains(where: { $0.id == message.id }) else { return false }
            s.owed.append(message)
            return true
        }
    }

    func issuersOwed() async throws -> [String] {
        state.withLock { Array(Set($0.owed.filter { $0.state == .queued }.map(\.issuerID))).sorted() }
    }

    func queued(issuerID: String, limit: Int) async throws -> [OwedMessage] {
        state.withLock { Array($0.owed.filter { $0.issuerID == issuerID && $0.state == .queued }.prefix(limit)) }
    }

    func update(_ message: OwedMessage) async throws {
        state.withLock { s in if let i = s.owed.firstIndex(where: { $0.id == message.id }) { s.owed[i] = message } }
    }

    func lease(issuerID: String, node: String, until: Date, now: Date) async throws -> Bool {
        state.withLock { s in
            if let held = s.leases[issuerID], held.node != node, held.until >= now { return false }
            s.leases[issuerID] = (node, until)
            return true
        }
    }

    func owed(id: String) async throws -> OwedMessage? { state.withLock { $0.owed.first { $0.id == id } } }

    func depths() async throws -> [QueueDepth] {
        state.withLock { s in
            Dictionary(grouping: s.owed, by: { "\($0.issuerID)|\($0.kind.rawValue)" }).map { _, all in
                QueueDepth(issuerID: all[0].issuerID, kind: all[0].kind, queued: all.filter { $0.state == .queued }.count,
                           oldestQueuedAt: all.filter { $0.state == .queued }.map(\.queuedAt).min(),
                           expired: all.filter { $0.state == .expired }.count, delivered: all.filter { $0.state == .delivered }.count)
            }.sorted { ($0.issuerID, $0.kind.rawValue) < ($1.issuerID, $1.kind.rawValue) }
        }
    }
}

/// Issuer connections that record what the network sends and answer as told.
final class RecordingIssuerLinks: IssuerLinks {
    enum Behaviour: Sendable {
        /// Answers with this response code (and an approval code when it is 00).
        case answer(ResponseCode)
        /// Never answers: the link times out.
        case silent
        /// No connection: nothing is sent.
        case down
    }
    let behaviour: Mutex<Behaviour>
    let sent = Mutex<[Message]>([])

    init(_ behaviour: Behaviour = .answer(.approved)) { self.behaviour = Mutex(behaviour) }

    var messages: [Message] { sent.withLock { $0 } }

    func send(_ message: Message, to issuer: Issuer) async throws(IssuerLinkError) -> Message {
        if case .down = behaviour.withLock({ $0 }) { throw .unavailable("connection refused") }
        sent.withLock { $0.append(message) }
        switch behaviour.withLock({ $0 }) {
        case .down:
            throw .unavailable("connection refused")
        case .silent:
            throw .timedOut(after: .milliseconds(300))
        case .answer(let code):
            var answer = message.answer(code, echoing: [2, 3, 4, 6, 7, 10, 11, 32, 41, 49, 51, 90])
            if code.isApproval { answer.set(38, "A1B2C3") }
            return answer
        }
    }
}

/// The token service as the network sees it: tokens it knows by number, each with the
/// card it stands for; a decline when told; ATCs as the requests say.
final class TokenServiceDouble: NetworkTokenService {
    struct Known: Sendable {
        var routing: TokenRouting
        var decline: TokenDecline?
    }
    let known = Mutex<[String: Known]>([:])
    let asked = Atomic<Int>(0)

    func add(token: String, card: String, issuerID: String, decline: TokenDecline? = nil) throws {
        let routing = TokenRouting(tokenID: "tok_\(token.suffix(4))", maskedToken: PAN.mask(token), issuerID: issuerID,
                                   pan: try PAN(unchecked: card), cardExpiry: "2912", maskedPAN: PAN.mask(card), cardID: "card_\(card.suffix(4))")
        known.withLock { $0[token] = Known(routing: routing, decline: decline) }
    }

    func authorize(_ request: TokenAuthorizationRequest) async throws -> Result<TokenAuthorization, TokenDecline> {
        asked.wrappingAdd(1, ordering: .relaxed)
        guard let known = known.withLock({ $0[request.tokenNumber.digits] }) else { return .failure(.unknownToken) }
        if let decline = known.decline { return .failure(decline) }
        let atc = request.chipData?.value(.applicationTransactionCounter).map { UInt16($0[0]) << 8 | UInt16($0[1]) } ?? 1
        return .success(TokenAuthorization(routing: known.routing, atc: ApplicationTransactionCounter(atc), arqc: [1, 2, 3, 4, 5, 6, 7, 8]))
    }

    /// The ARC with a fixed middle, so that a test can see which code it was made for.
    func issuerAuthenticationData(for authorization: TokenAuthorization, responseCode: [UInt8]) async throws -> [UInt8] {
        responseCode + [0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5] + responseCode
    }

    func routing(forToken number: PAN) async throws -> TokenRouting? { known.withLock { $0[number.digits]?.routing } }

    func digest(_ bytes: [UInt8], purpose: String) -> String { Hex.encode(bytes) }

    /// Sealed as the vault does: AES-GCM under a key of the double's, the context authenticated.
    let sealingKey = SymmetricKey(size: .bits256)
    func seal(_ bytes: [UInt8], context: String) -> Data {
        (try? AES.GCM.seal(bytes, using: sealingKey, authenticating: Array(context.utf8)).combined) ?? Data()
    }
    func open(_ sealed: Data, context: String) throws -> [UInt8] {
        Array(try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: sealingKey, authenticating: Array(context.utf8)))
    }

    func invalidateCaches() {}

    /// Kept on every token of the card, as the vault keeps it on the card; counted.
    let statusWrites = Atomic<Int>(0)
    func recordIssuerStatus(cardID: String, _ status: CardIssuerStatus?) async throws {
        statusWrites.wrappingAdd(1, ordering: .relaxed)
        known.withLock { known in
            for (number, k) in known where k.routing.cardID == cardID { known[number]?.routing.issuerStatus = status }
        }
    }
}

/// The issuers the network routes by.
struct FixedIssuers: IssuerRanges {
    let list: [Issuer]
    func issuers() async throws -> [Issuer] { list }
}
