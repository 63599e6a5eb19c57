import EMV
import Foundation
import ISO8583
import Logging
import Participants
import Synchronization
import TokenService

/// The network's authorization pipeline (DESIGN.md "Data flow: a tap", steps 3 to 6):
/// an acquirer's message in, the answer out. No socket code: the listener in
/// `PasswayServer` hands each decoded message to `handle` and writes back what it returns.
///
///     parse (Requests) → duplicate? → route by BIN (IssuerDirectory) → token check
///     (NetworkTokenService) → claim the key, spend the ATC (journal) → convert, ask the
///     issuer (IssuerLeg) → answer with the ARPC (Decision) → journal → answer
///
/// Reversals are in `Reversals.swift`.
public final class AuthorizationPipeline: Sendable {
    let tokens: any NetworkTokenService
    let journal: any AuthorizationJournal
    let links: any IssuerLinks
    /// The operator's exchange rates, in memory.
    public let rates: ExchangeRateBook
    let logger: Logger
    let now: @Sendable () -> Date
    let codec = ISO8583Codec()
    let directory: IssuerDirectory
    /// Authorizations being worked on in this process, so that a duplicate arriving
    /// meanwhile waits for the original's answer instead of asking the issuer again.
    let inFlight = Mutex<[AuthorizationKey: (digest: String, waiters: [CheckedContinuation<Message?, Never>])]>([:])
    /// How long a duplicate waits for the answer of an original another node is working
    /// on (it then gets 94): longer than that node waits for its issuer.
    let duplicateWait: Duration
    /// The reversals the network owes issuers, kept and sent until answered.
    public let forwarder: Forwarder
    /// Stand-in decisions journaled by this process, per issuer: approved and declined.
    let standIns = Mutex<[String: StandInCount]>([:])
    /// Counts and latencies for `/metrics`.
    let metrics: NetworkMetrics

    public init(tokens: any NetworkTokenService, issuers: any IssuerRanges, journal: any AuthorizationJournal, owed: any OwedMessageStore,
                links: any IssuerLinks, rates: ExchangeRateBook = ExchangeRateBook(.reference), duplicateWait: Duration = .seconds(6),
                forwarding: RetryPolicy = .standard, metrics: NetworkMetrics = .none, logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.duplicateWait = duplicateWait
        self.metrics = metrics
        forwarder = Forwarder(store: owed, links: links, issuers: issuers, sealing: tokens, policy: forwarding, logger: logger, now: now)
        self.tokens = tokens
        self.journal = journal
        self.links = links
        self.rates = rates
        self.logger = logger
        self.now = now
        self.directory = IssuerDirectory(issuers: issuers)
    }

    /// Forgets the cached issuers (their ranges and rules changed through this node).
    public func invalidateIssuers() { directory.invalidate() }

    /// Forgets the cached issuers and the token service's cached tokens and cards:
    /// another node changed them.
    public func invalidateCaches() {
        directory.invalidate()
        tokens.invalidateCaches()
    }

    /// Fields of the request that the answer carries back.
    static let echoedFields = [2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49, 70]

    /// The answer to one message from an acquirer; nil when the message is itself an
    /// answer or advice acknowledgement that needs none.
    public func handle(_ message: Message) async -> Message? {
        switch NetworkRequest.parse(message) {
        case .success(.authorization(let request)):
            let started = ContinuousClock.now
            let answer = await authorize(request)
            metrics.authorizationTook(started.duration(to: .now), mti: request.message.mti)
            return answer
        case .success(.reversal(let request)):
            let answer = await reverse(request)
            metrics.reversal(mti: request.message.mti, rc: answer.string(39) ?? "")
            return answer
        case .success(.networkManagement(let request)): return Self.answer(to: request.message, .approved)
        case .failure(let problem):
            guard MessageType.isRequest(message.mti) else {
                logger.notice("unexpected message from acquirer", metadata: ["mti": "\(message.mti)"])
                return nil
            }
            logger.notice("format error", metadata: ["mti": "\(message.mti)", "field": "\(problem.field)", "reason": "\(problem.reason)",
                                                     "stan": "\(message.string(11) ?? "-")"])
            return Self.answer(to: message, .formatError)
        }
    }

    /// What an acquirer hears when the network has more in flight than it takes: 96 for
    /// a request, nothing for anything else.
    public static func overloadedAnswer(to request: Message) -> Message? {
        guard MessageType.isRequest(request.mti) else { return nil }
        return answer(to: request, .systemMalfunction)
    }

    /// An answer carrying the request's matching fields and a response code.
    static func answer(to request: Message, _ code: ResponseCode) -> Message {
        request.answer(code, echoing: echoedFields)
    }

    // MARK: - Authorization

    /// Once per key: duplicate detection (in this process and through the journal), the
    /// journal entry written before the answer is returned.
    func authorize(_ request: AuthorizationRequest) async -> Message {
        let key = request.key
        let packed: [UInt8]
        do { packed = try codec.pack(request.message) } catch {
            return Self.answer(to: request.message, .formatError)
        }
        let digest = tokens.digest(packed, purpose: "authorization")

        // The first message with a key is worked out on its caller's task; one arriving
        // meanwhile with the same key and bytes waits on a continuation for that answer.
        enum Role { case original, waiting, different }
        var role = Role.original
        let waited: Message? = await withCheckedContinuation { (waiter: CheckedContinuation<Message?, Never>) in
            role = inFlight.withLock { running in
                guard let existing = running[key] else {
                    running[key] = (digest, [])
                    return .original
                }
                guard existing.digest == digest else { return .different }
                running[key]?.waiters.append(waiter)
                return .waiting
            }
            if role == .waiting {
                logger.info("duplicate of an authorization in progress: waiting for the original's answer", metadata: ["key": "\(key)"])
            } else {
                waiter.resume(returning: nil)
            }
        }
        switch role {
        case .original:
            let answer = await runOnce(request, digest: digest)
            let waiters = inFlight.withLock { $0.removeValue(forKey: key)?.waiters ?? [] }
            for waiter in waiters { waiter.resume(returning: answer) }
            return answer
        case .waiting:
            return counted(waited ?? Self.answer(to: request.message, .systemMalfunction), request, issuer: nil, by: "duplicate")
        case .different:
            logger.notice("same key, different message", metadata: ["key": "\(key)"])
            return counted(Self.answer(to: request.message, .duplicateTransmission), request, issuer: nil, by: "duplicate")
        }
    }

    /// What the checks before the claim found, reading only.
    enum Checked: Sendable {
        /// Declined by the network before any write.
        case declined(NetworkDecline, issuerID: String?)
        /// Everything checked but the ATC, which is spent with the journal claim.
        case passed(Issuer, TokenAuthorization)
    }

    /// One request, from its checks to the journaled answer. What only reads (the route,
    /// the token, the cryptogram) comes first; then one write claims the key and spends the ATC.
    func runOnce(_ request: AuthorizationRequest, digest: String) async -> Message {
        let key = request.key
        let checked = await check(request)
        var atcFresh = false
        var highestSpent: UInt16?
        // The message the issuer is sent, made once: kept (sealed, as the reversal recovery
        // would owe) with the claim, then sent.
        var toIssuer: Message?
        do {
            let claim: JournalClaim
            switch checked {
            case .passed(let issuer, let token):
                // What recovery sends the issuer should this claim never be answered.
                let message = Self.issuerMessage(request, token: token)
                toIssuer = message
                let ifLost = try? forwarder.sealedReversal(of: message)
                (claim, atcFresh, highestSpent) = try await journal.claim(
                    key, requestDigest: digest, at: now(), spendingATC: token.atc.value, ofToken: token.routing.tokenID,
                    ifLost: ifLost.map { ReversalIfLost(id: $0.id, issuerID: issuer.id, sealed: $0.sealed) })
            case .declined:
                claim = try await journal.claim(key, requestDigest: digest, at: now())
            }
            switch claim {
            case .claimed:
                break
            case .answered(let entry):
                return counted(try original(entry, for: request.message, digest: digest), request, issuer: entry.issuerID, by: "duplicate")
            case .pending(let pendingDigest):
                guard pendingDigest == digest else {
                    logger.notice("same key, different message", metadata: ["key": "\(key)"])
                    return counted(Self.answer(to: request.message, .duplicateTransmission), request, issuer: nil, by: "duplicate")
                }
                // Another node has the original: its answer is this one's, once journaled.
                if let entry = try await awaitAnswer(key) {
                    return counted(try original(entry, for: request.message, digest: digest), request, issuer: entry.issuerID, by: "duplicate")
                }
                logger.notice("duplicate of an authorization still in progress elsewhere", metadata: ["key": "\(key)"])
                return counted(Self.answer(to: request.message, .duplicateTransmission), request, issuer: nil, by: "duplicate")
            }
        } catch {
            logger.error("journal unavailable", metadata: ["key": "\(key)", "error": "\(error)"])
            return counted(Self.answer(to: request.message, .systemMalfunction), request, issuer: nil, by: Decider.network.rawValue)
        }

        let masked = PAN.mask(request.number.digits)
        var decision: Decision
        var withARPC = false
        switch checked {
        case .declined(let decline, let issuerID):
            decision = Decision(outcome: .declinedByNetwork(decline), issuerID: issuerID, maskedNumber: masked)
        case .passed(_, let token) where !atcFresh:
            decision = Decision(outcome: .declinedByNetwork(.token(.atcReplayed(token.atc.value))), token: token, maskedNumber: masked)
        case .passed(let issuer, let token) where highestSpent.map { Int(token.atc.value) + issuer.policy.atcWindow < Int($0) } ?? false:
            let highest = highestSpent ?? 0
            decision = Decision(outcome: .declinedByNetwork(.token(.atcOutsideWindow(atc: token.atc.value, highest: highest))), token: token,
                                maskedNumber: masked)
        case .passed(let issuer, let token):
            // From here the cryptogram has verified and its ATC is spent: the answer carries an ARPC.
            decision = await askIssuer(request, issuer: issuer, token: token, toIssuer: toIssuer ?? Self.issuerMessage(request, token: token))
            withARPC = true
        }
        var answer = Message(mti: request.message.mti)
        var entry: JournalEntry
        while true {
            var arpc: [UInt8]?
            if withARPC, let token = decision.token {
                arpc = try? await tokens.issuerAuthenticationData(for: token, responseCode: Array(decision.outcome.responseCode.rawValue.utf8))
            }
            answer = decision.answer(to: request, arpc: arpc)
            var stored = answer
            stored[2] = nil
            entry = decision.entry(request, digest: digest, answer: (try? codec.pack(stored)) ?? [], at: now())
            let (owing, spend) = owed(for: decision, request)
            do {
                // Approved means durably journaled: the acquirer hears nothing before this returns.
                try await journal.complete(entry, owing: owing, standIn: spend)
                if entry.decidedBy == .standIn, let issuerID = entry.issuerID {
                    metrics.standIn(issuer: issuerID, approved: entry.responseCode.isApproval)
                    standIns.withLock { counts in
                        var count = counts[issuerID] ?? StandInCount(issuerID: issuerID, approved: 0, declined: 0)
                        if entry.responseCode.isApproval { count.approved += 1 } else { count.declined += 1 }
                        counts[issuerID] = count
                    }
                }
                if let owing {
                    logger.notice(owing.kind == .advice ? "stand-in advice queued for the issuer" : "reversal queued for the issuer",
                                  metadata: ["key": "\(key)", "issuer": "\(owing.issuerID)", "reason": "\(owing.reason)"])
                    forwarder.wake()
                }
            } catch JournalError.standInAllowanceExhausted(let countReached) {
                // The token's daily stand-in allowance is spent (perhaps on another node): declined.
                if case .stoodIn(_, _, _, let error) = decision.outcome {
                    decision.outcome = .stoodIn(countReached ? .exceedsFrequencyLimit : .exceedsAmountLimit, approvalCode: nil,
                                                reason: countReached ? "daily stand-in count reached" : "over the daily stand-in amount", because: error)
                    continue
                }
                answer.set(39, ResponseCode.systemMalfunction.rawValue)
                answer[38] = nil
            } catch {
                // Not journaled: the claim stays unanswered, and recovery reverses whatever the
                // issuer held once the claim is old enough.
                logger.error("journal write failed: answering 96", metadata: ["key": "\(key)", "error": "\(error)"])
                answer.set(39, ResponseCode.systemMalfunction.rawValue)
                answer[38] = nil
            }
            break
        }
        // An issuer's approval at debug (the journal holds every authorization), anything
        // else at info: a line per approval cost a tenth of the platform's CPU at full load.
        logger.log(level: entry.responseCode.isApproval && entry.decidedBy == .issuer ? .debug : .info, "authorization", metadata: [
            "key": "\(key)", "mti": "\(request.message.mti)", "token": "\(entry.maskedToken ?? masked)",
            "amount": "\(request.amountMinor) \(request.currency.alpha)", "rc": "\(entry.responseCode)",
            "by": "\(entry.decidedBy.rawValue)", "reason": "\(entry.reason)",
        ])
        return counted(answer, request, issuer: entry.issuerID, by: entry.decidedBy.rawValue)
    }

    /// The answer, counted for `/metrics` with the code it carries.
    func counted(_ answer: Message, _ request: AuthorizationRequest, issuer: String?, by decider: String) -> Message {
        metrics.authorization(mti: request.message.mti, rc: answer.string(39) ?? "", issuer: issuer, acquirer: request.message.string(32), decidedBy: decider)
        return answer
    }

    /// The stand-in decisions this process journaled since it started, per issuer.
    public var standInCounts: [StandInCount] { standIns.withLock { $0.values.sorted { $0.issuerID < $1.issuerID } } }

    /// What the issuer is owed with an outcome, queued with its journal entry: a stand-in
    /// approval's advice (0120, with what it takes from the token's daily allowance), or,
    /// when the issuer may have decided unheard (no answer in time, an answer not believed,
    /// a connection lost after sending) and nothing was approved for it, a reversal.
    func owed(for decision: Decision, _ request: AuthorizationRequest) -> (OwedMessage?, StandInSpend?) {
        guard let sent = decision.sentToIssuer, let issuerID = decision.issuerID else { return (nil, nil) }
        switch decision.outcome {
        case .stoodIn(let code, let approval?, _, let error) where code.isApproval:
            var advice = sent
            advice.mti = request.message.mti == "0200" ? "0220" : "0120"
            advice.set(38, approval)
            advice.set(39, code.rawValue)
            guard let token = decision.token, let rules = decision.standIn,
                  let sealed = try? forwarder.seal(advice, id: OwedMessage.adviceID(request.key)) else { return (nil, nil) }
            let spend = StandInSpend(tokenID: token.routing.tokenID, day: Self.utcDay(now()), amountMinor: decision.conversion?.amountMinor ?? request.amountMinor,
                                     maxCount: rules.dailyCountPerToken, maxAmountMinor: rules.dailyAmountPerTokenMinor)
            return (forwarder.owed(sealed, kind: .advice, issuerID: issuerID, maskedPAN: token.routing.maskedPAN, reason: "stand-in approval (\(error))"), spend)
        case .issuerUnavailable(let error), .stoodIn(_, _, _, let error):
            guard error.mayHaveReachedIssuer, let sealed = try? forwarder.sealedReversal(of: sent) else { return (nil, nil) }
            return (forwarder.owed(sealed, issuerID: issuerID, maskedPAN: decision.token?.routing.maskedPAN, reason: "\(error)"), nil)
        default:
            return (nil, nil)
        }
    }

    /// YYYY-MM-DD of `date` in UTC.
    static func utcDay(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year ?? 1970, c.month ?? 1, c.day ?? 1)
    }

    /// The journaled answer to a duplicate's original, with the duplicate's field 2.
    func original(_ entry: JournalEntry, for request: Message, digest: String) throws -> Message {
        guard entry.requestDigest == digest else {
            logger.notice("same key, different message", metadata: ["key": "\(entry.key)"])
            return Self.answer(to: request, .duplicateTransmission)
        }
        // Recovery journals an answer without its bytes (the request was never seen again):
        // this message's own answer with the journaled code.
        var original = entry.answer.isEmpty ? Self.answer(to: request, entry.responseCode) : try codec.unpack(Array(entry.answer))
        original[2] = request[2]
        logger.info("duplicate authorization: answered with the original", metadata: ["key": "\(entry.key)", "rc": "\(entry.responseCode)"])
        return original
    }

    /// Polls the journal (1 ms, doubling to 50 ms) until the key is answered or
    /// `duplicateWait` has passed.
    func awaitAnswer(_ key: AuthorizationKey) async throws -> JournalEntry? {
        let clock = ContinuousClock()
        let deadline = clock.now + duplicateWait
        var pause = Duration.milliseconds(1)
        while clock.now < deadline {
            try await Task.sleep(for: pause)
            if let entry = try await journal.entry(key) { return entry }
            pause = min(pause * 2, .milliseconds(50))
        }
        return nil
    }

    /// Step 4 up to the last check, reading only: the issuer owning the token range, then
    /// the token service's checks of the token and its cryptogram.
    func check(_ request: AuthorizationRequest) async -> Checked {
        let number = request.number.digits
        let issuers: [Issuer]
        do { issuers = try await directory.issuers(containing: number) } catch {
            return .declined(.malfunction("issuer directory unavailable: \(error)"), issuerID: nil)
        }
        guard let issuer = issuers.first(where: { $0.ownsToken(number) }) else {
            if let cardIssuer = issuers.first(where: { $0.owns(cardNumber: number) }) {
                return .declined(.cardNumberNotToken, issuerID: cardIssuer.id)
            }
            return .declined(.unknownRange, issuerID: nil)
        }
        do {
            switch try await tokens.authorize(TokenAuthorizationRequest(
                tokenNumber: request.number, expiry: request.expiry, entryMode: request.entryMode, amountMinor: request.amountMinor,
                currency: request.currency.numeric, chipData: request.chipData, policy: issuer.policy)) {
            case .failure(let decline): return .declined(.token(decline), issuerID: issuer.id)
            case .success(let token): return .passed(issuer, token)
            }
        } catch {
            logger.error("token service error", metadata: ["error": "\(error)"])
            return .declined(.malfunction("token service error"), issuerID: issuer.id)
        }
    }
}

/// Where the network learns the issuers and their ranges (the participants' registry).
public protocol IssuerRanges: Sendable {
    func issuers() async throws -> [Issuer]
}

extension ParticipantRegistry: IssuerRanges {}

/// Which issuer owns a number: the issuers' card and token ranges, re-read when a number
/// matches none (a newly onboarded issuer) and otherwise every `maxAge`.
final class IssuerDirectory: Sendable {
    let source: any IssuerRanges
    let cache = Mutex<(issuers: [Issuer], loaded: ContinuousClock.Instant?)>(([], nil))
    static let maxAge: Duration = .seconds(5)

    init(issuers: any IssuerRanges) { source = issuers }

    func invalidate() { cache.withLock { $0 = ([], nil) } }

    func issuers(containing number: String) async throws -> [Issuer] {
        let (cached, loaded) = cache.withLock { ($0.issuers, $0.loaded) }
        let matching = cached.filter { $0.ownsToken(number) || $0.owns(cardNumber: number) }
        if !matching.isEmpty, let loaded, loaded.duration(to: .now) < Self.maxAge { return matching }
        let fresh = try await source.issuers()
        cache.withLock { $0 = (fresh, .now) }
        return fresh.filter { $0.ownsToken(number) || $0.owns(cardNumber: number) }
    }

    func issuer(id: String) async throws -> Issuer? {
        if let cached = cache.withLock({ $0.issuers.first { $0.id == id } }) { return cached }
        return try await source.issuers().first { $0.id == id }
    }
}
