import EMV
import Foundation
import ISO8583
import Logging
import Synchronization
import TokenService

/// The network's authorization pipeline (DESIGN.md "Data flow: a tap", steps 3 to 6):
/// an acquirer's message in, the answer out. No socket code: the listener in
/// `PasswayServer` hands each decoded message to `handle` and writes back what it returns.
///
///     validate → duplicate? → token checks (TokenCheck) → route by BIN → convert currency
///     → ask the issuer (IssuerLinks) → put the token back, add the ARPC → journal → answer
public final class AuthorizationPipeline: Sendable {
    let tokens: TokenService
    let check: TokenCheck
    let journal: any AuthorizationJournal
    let links: any IssuerLinks
    public let rates: ExchangeRates
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

    public init(tokens: TokenService, journal: any AuthorizationJournal, links: any IssuerLinks, rates: ExchangeRates = .reference,
                duplicateWait: Duration = .seconds(6), logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.duplicateWait = duplicateWait
        self.tokens = tokens
        self.check = TokenCheck(tokens: tokens)
        self.journal = journal
        self.links = links
        self.rates = rates
        self.logger = logger
        self.now = now
        self.directory = IssuerDirectory(tokens: tokens)
    }

    /// Forgets the cached issuers and the token service's cached tokens and cards:
    /// another node changed them.
    public func invalidateCaches() {
        directory.invalidate()
        tokens.invalidateCaches()
    }

    /// Fields every request of these types must carry (ISO 8583:1987, as Passway uses it).
    public static let mandatoryFields: [String: [Int]] = [
        "0100": [2, 3, 4, 7, 11, 14, 22, 32, 41, 49],
        "0200": [2, 3, 4, 7, 11, 14, 22, 32, 41, 49],
        "0400": [2, 3, 4, 7, 11, 32, 41, 49, 90],
        "0420": [2, 3, 4, 7, 11, 32, 41, 49, 90],
        "0800": [7, 11, 70],
    ]

    /// Fields of the request that the answer carries back.
    static let echoedFields = [2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49]
    /// Fields of the acquirer's request that travel on to the issuer (2 and 14 are replaced). Field 55
    /// goes as it came, unknown tags included, in order (DESIGN.md "The wire").
    static let forwardedFields = [3, 4, 7, 11, 12, 13, 18, 22, 32, 37, 41, 42, 43, 49, 55]

    /// The answer to one message from an acquirer; nil when the message is itself an
    /// answer or advice acknowledgement that needs none.
    public func handle(_ request: Message) async -> Message? {
        switch request.mti {
        case "0100", "0200":
            return await authorize(request)
        case "0400", "0420":
            return await reverse(request)
        case "0800":
            return networkManagement(request)
        default:
            guard MessageType.isRequest(request.mti) else {
                logger.notice("unexpected message from acquirer", metadata: ["mti": "\(request.mti)"])
                return nil
            }
            logger.notice("message type not supported", metadata: ["mti": "\(request.mti)"])
            return Self.answer(to: request, code: ResponseCode.formatError.rawValue)
        }
    }

    /// 0800 → 0810: sign-on (001), sign-off (002), echo (301), answered 00.
    public func networkManagement(_ request: Message) -> Message {
        guard let code = request.string(70), ["001", "002", "301"].contains(code) else {
            return Self.answer(to: request, code: ResponseCode.formatError.rawValue)
        }
        return Self.answer(to: request, code: ResponseCode.approved.rawValue)
    }

    /// What an acquirer hears when the network has more in flight than it takes: 96 for
    /// a request, nothing for anything else.
    public static func overloadedAnswer(to request: Message) -> Message? {
        guard MessageType.isRequest(request.mti) else { return nil }
        return answer(to: request, code: ResponseCode.systemMalfunction.rawValue)
    }

    /// An answer carrying the request's matching fields and a response code.
    static func answer(to request: Message, code: String) -> Message {
        request.answer(code: code, echoing: echoedFields + [70])
    }

    // MARK: - Authorization

    /// Once per key: format check, duplicate detection (in this process and through the
    /// journal), the journal entry written before the answer is returned.
    func authorize(_ request: Message) async -> Message {
        if let problem = Self.formatProblem(request) {
            logger.notice("format error", metadata: ["mti": "\(request.mti)", "field": "\(problem.field)", "reason": "\(problem.reason)",
                                                     "stan": "\(request.string(11) ?? "-")"])
            return Self.answer(to: request, code: ResponseCode.formatError.rawValue)
        }
        let key = AuthorizationKey(acquirer: request.string(32)!, terminal: request.string(41)!, stan: request.string(11)!,
                                   transmission: request.string(7)!)
        let packed: [UInt8]
        do { packed = try codec.pack(request) } catch {
            return Self.answer(to: request, code: ResponseCode.formatError.rawValue)
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
                running[key]!.waiters.append(waiter)
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
            let answer = await runOnce(request, key: key, digest: digest)
            let waiters = inFlight.withLock { $0.removeValue(forKey: key)?.waiters ?? [] }
            for waiter in waiters { waiter.resume(returning: answer) }
            return answer
        case .waiting:
            return waited!
        case .different:
            logger.notice("same key, different message", metadata: ["key": "\(key)"])
            return Self.answer(to: request, code: ResponseCode.duplicateTransmission.rawValue)
        }
    }

    /// One request, from its checks to the journaled answer. What only reads (the token,
    /// the cryptogram) comes first; then one write claims the key and spends the ATC.
    func runOnce(_ request: Message, key: AuthorizationKey, digest: String) async -> Message {
        let prepared = await prepare(request)
        var atcFresh = false
        do {
            let claim: JournalClaim
            switch prepared {
            case .passed(_, let passed):
                (claim, atcFresh) = try await journal.claim(key, requestDigest: digest, at: now(), spendingATC: passed.atc.value, ofToken: passed.token.id)
            case .declined:
                claim = try await journal.claim(key, requestDigest: digest, at: now())
            }
            switch claim {
            case .claimed:
                break
            case .answered(let entry):
                return try original(entry, for: request, key: key, digest: digest)
            case .pending(let pendingDigest):
                guard pendingDigest == digest else {
                    logger.notice("same key, different message", metadata: ["key": "\(key)"])
                    return Self.answer(to: request, code: ResponseCode.duplicateTransmission.rawValue)
                }
                // Another node has the original: its answer is this one's, once journaled.
                if let entry = try await awaitAnswer(key) {
                    return try original(entry, for: request, key: key, digest: digest)
                }
                logger.notice("duplicate of an authorization still in progress elsewhere", metadata: ["key": "\(key)"])
                return Self.answer(to: request, code: ResponseCode.duplicateTransmission.rawValue)
            }
        } catch {
            logger.error("journal unavailable", metadata: ["key": "\(key)", "error": "\(error)"])
            return Self.answer(to: request, code: ResponseCode.systemMalfunction.rawValue)
        }

        let outcome: Outcome
        switch prepared {
        case .declined(let declined):
            outcome = declined
        case .passed(let issuer, let passed) where atcFresh:
            outcome = await proceed(request, issuer: issuer, passed: passed)
        case .passed(_, let passed):
            let replayed = TokenDecline.atcReplayed(passed.atc.value)
            outcome = networkDecline(request, replayed.responseCode, "\(replayed)")
        }
        var answer = outcome.answer
        var stored = answer
        stored[2] = nil
        let amount = Int64(request.string(4)!)!
        let entry = JournalEntry(
            key: key.description, requestDigest: digest, mti: request.mti, maskedToken: outcome.maskedToken, tokenID: outcome.tokenID,
            issuerID: outcome.issuerID, maskedPAN: outcome.maskedPAN, processingCode: request.string(3)!, amountMinor: amount,
            currency: request.string(49)!, billingAmountMinor: answer.string(6).flatMap { Int64($0) }, billingCurrency: answer.string(51),
            responseCode: answer.string(39) ?? "96", approvalCode: answer.string(38), decidedBy: outcome.decidedBy, reason: outcome.reason,
            answer: Data((try? codec.pack(stored)) ?? []), at: now())
        do {
            // Approved means durably journaled: the acquirer hears nothing before this returns.
            try await journal.complete(entry)
        } catch {
            logger.error("journal write failed: answering 96", metadata: ["key": "\(key)", "error": "\(error)"])
            answer.set(39, ResponseCode.systemMalfunction.rawValue)
            answer[38] = nil
        }
        logger.info("authorization", metadata: [
            "key": "\(key)", "mti": "\(request.mti)", "token": "\(outcome.maskedToken ?? PAN.mask(request.string(2) ?? ""))",
            "amount": "\(amount) \(Currency.numeric(request.string(49)!)?.alpha ?? "?")", "rc": "\(entry.responseCode)",
            "by": "\(outcome.decidedBy)", "reason": "\(outcome.reason)",
        ])
        return answer
    }

    /// The journaled answer to a duplicate's original, with the duplicate's field 2.
    func original(_ entry: JournalEntry, for request: Message, key: AuthorizationKey, digest: String) throws -> Message {
        guard entry.requestDigest == digest else {
            logger.notice("same key, different message", metadata: ["key": "\(key)"])
            return Self.answer(to: request, code: ResponseCode.duplicateTransmission.rawValue)
        }
        var original = try codec.unpack(Array(entry.answer))
        original[2] = request[2]
        logger.info("duplicate authorization: answered with the original", metadata: ["key": "\(key)", "rc": "\(entry.responseCode)"])
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

    struct Outcome: Sendable {
        var answer: Message
        var decidedBy: String
        var reason: String
        var maskedToken: String?
        var tokenID: String?
        var issuerID: String?
        var maskedPAN: String?
    }

    /// A decline by the network, before the issuer is asked (no ARPC).
    func networkDecline(_ request: Message, _ code: ResponseCode, _ reason: String, token: Token? = nil) -> Outcome {
        Outcome(answer: Self.answer(to: request, code: code.rawValue), decidedBy: "network", reason: reason,
                maskedToken: token?.maskedNumber ?? PAN.mask(request.string(2)!), tokenID: token?.id, issuerID: token?.issuerID)
    }

    enum Prepared: Sendable {
        /// Declined by the network before any write.
        case declined(Outcome)
        /// Everything checked but the ATC, which is spent with the journal claim.
        case passed(Issuer, TokenCheck.Passed)
    }

    /// Step 4 up to the last check, reading only: the issuer owning the token range, the
    /// token checks and the cryptogram.
    func prepare(_ request: Message) async -> Prepared {
        func network(_ code: ResponseCode, _ reason: String) -> Prepared { .declined(networkDecline(request, code, reason)) }
        let number = request.string(2)!
        let issuers: [Issuer]
        do { issuers = try await directory.issuers(containing: number) } catch {
            return network(.systemMalfunction, "issuer directory unavailable: \(error)")
        }
        guard let issuer = issuers.first(where: { $0.ownsToken(number) }) else {
            if issuers.contains(where: { $0.owns(cardNumber: number) }) {
                return network(.transactionNotPermitted, "a card number, not a token: this network takes tokens only")
            }
            return network(.invalidCardNumber, "no issuer has this card range")
        }

        do {
            switch try await check.verify(request) {
            case .failure(let decline): return network(decline.responseCode, "\(decline)")
            case .success(let passed): return .passed(issuer, passed)
            }
        } catch {
            logger.error("token service error", metadata: ["error": "\(error)"])
            return network(.systemMalfunction, "token service error")
        }
    }

    /// Steps 4 to 6 for a token that passed and whose ATC is now spent: detokenize, convert,
    /// ask the issuer, add the ARPC.
    func proceed(_ request: Message, issuer: Issuer, passed: TokenCheck.Passed) async -> Outcome {
        let token = passed.token

        // From here the cryptogram has verified: every answer carries an ARPC.
        func finish(_ answer: Message, by decidedBy: String, reason: String, maskedPAN: String?) async -> Outcome {
            var answer = answer
            let code = answer.string(39) ?? ResponseCode.systemMalfunction.rawValue
            if let arpc = try? await tokens.responseCryptogram(token: token, atc: passed.atc, arqc: passed.arqc, responseCode: code) {
                try? answer.setICCData([TLV(.issuerAuthenticationData, arpc + Array(code.utf8.prefix(2)))])
            }
            return Outcome(answer: answer, decidedBy: decidedBy, reason: reason, maskedToken: token.maskedNumber, tokenID: token.id,
                           issuerID: issuer.id, maskedPAN: maskedPAN)
        }

        let pan: PAN, card: VaultCard
        do { (pan, card) = try await tokens.detokenizeCard(token) } catch {
            logger.error("detokenization failed", metadata: ["token": "\(token.maskedNumber)", "error": "\(error)"])
            return await finish(Self.answer(to: request, code: ResponseCode.systemMalfunction.rawValue), by: "network",
                                reason: "detokenization failed", maskedPAN: nil)
        }

        var toIssuer = Message(mti: request.mti)
        for f in Self.forwardedFields where request[f] != nil { toIssuer[f] = request[f] }
        toIssuer.set(2, pan.digits)
        toIssuer.set(14, card.expiry)

        // Step 5: the cardholder is billed in the issuer's currency.
        var conversion: (amount: String, rate: String, currency: String)?
        let transactionCurrency = Currency.numeric(request.string(49)!)!
        guard let billingCurrency = Currency.alpha(issuer.currency) else {
            return await finish(Self.answer(to: request, code: ResponseCode.transactionNotPermitted.rawValue), by: "network",
                                reason: "issuer billing currency \(issuer.currency) unknown to the network", maskedPAN: card.maskedPAN)
        }
        if transactionCurrency != billingCurrency {
            do {
                let rate = try rates.rate(from: transactionCurrency, to: billingCurrency)
                let billed = try ExchangeRates.convert(Int64(request.string(4)!)!, from: transactionCurrency, to: billingCurrency, at: rate)
                conversion = (String(format: "%012lld", billed), rate.field10, billingCurrency.numeric)
            } catch {
                return await finish(Self.answer(to: request, code: ResponseCode.transactionNotPermitted.rawValue), by: "network",
                                    reason: "\(error)", maskedPAN: card.maskedPAN)
            }
        }
        if let c = conversion {
            toIssuer.set(6, c.amount); toIssuer.set(10, c.rate); toIssuer.set(51, c.currency)
        }

        let fromIssuer: Message
        do {
            fromIssuer = try await links.send(toIssuer, to: issuer)
        } catch {
            logger.warning("issuer did not answer", metadata: ["issuer": "\(issuer.id)", "error": "\(error)"])
            if case .timedOut = error { reverseLate(toIssuer, issuer: issuer) }
            var answer = Self.answer(to: request, code: ResponseCode.issuerUnavailable.rawValue)
            if let c = conversion { answer.set(6, c.amount); answer.set(10, c.rate); answer.set(51, c.currency) }
            return await finish(answer, by: "timeout", reason: "\(error)", maskedPAN: card.maskedPAN)
        }
        let code = fromIssuer.string(39).flatMap { $0.count == 2 ? $0 : nil } ?? ResponseCode.systemMalfunction.rawValue
        var answer = Self.answer(to: request, code: code)
        if let c = conversion { answer.set(6, c.amount); answer.set(10, c.rate); answer.set(51, c.currency) }
        if code == ResponseCode.approved.rawValue, let approval = fromIssuer[38] { answer[38] = approval }
        return await finish(answer, by: "issuer", reason: code == "00" ? "approved" : "declined by issuer", maskedPAN: card.maskedPAN)
    }

    // MARK: - Reversals

    /// An acquirer's 0400/0420: the original (found in the journal by field 90 with this
    /// acquirer and terminal) is reversed at the issuer, which releases its hold. A
    /// reversal is idempotent at the issuer, so a repeated one is simply sent again.
    func reverse(_ request: Message) async -> Message {
        if let problem = Self.formatProblem(request) {
            logger.notice("format error", metadata: ["mti": "\(request.mti)", "field": "\(problem.field)", "reason": "\(problem.reason)"])
            return Self.answer(to: request, code: ResponseCode.formatError.rawValue)
        }
        let original = OriginalData(field90: request.string(90)!)!
        let key = AuthorizationKey(acquirer: request.string(32)!, terminal: request.string(41)!, stan: request.string(11)!, transmission: request.string(7)!)
        let originalKey = AuthorizationKey(acquirer: request.string(32)!, terminal: request.string(41)!, stan: original.stan, transmission: original.transmission)
        let outcome = await decideReversal(request, original: originalKey)
        var answer = outcome.answer
        answer[90] = request[90]
        var stored = answer
        stored[2] = nil
        let entry = JournalEntry(
            key: key.description, requestDigest: tokens.digest((try? codec.pack(request)) ?? [], purpose: "authorization"), mti: request.mti,
            maskedToken: outcome.maskedToken, tokenID: outcome.tokenID, issuerID: outcome.issuerID, maskedPAN: outcome.maskedPAN,
            processingCode: request.string(3)!, amountMinor: Int64(request.string(4)!)!, currency: request.string(49)!,
            billingAmountMinor: nil, billingCurrency: nil, responseCode: answer.string(39) ?? "96", approvalCode: nil,
            decidedBy: outcome.decidedBy, reason: outcome.reason + " (original \(originalKey))", answer: Data((try? codec.pack(stored)) ?? []), at: now())
        do { try await journal.complete(entry) } catch {
            logger.error("journal write failed: answering 96", metadata: ["key": "\(key)", "error": "\(error)"])
            answer.set(39, ResponseCode.systemMalfunction.rawValue)
        }
        logger.info("reversal", metadata: ["key": "\(key)", "original": "\(originalKey)", "rc": "\(entry.responseCode)", "reason": "\(outcome.reason)"])
        return answer
    }

    func decideReversal(_ request: Message, original: AuthorizationKey) async -> Outcome {
        func network(_ code: String, _ reason: String, entry: JournalEntry? = nil) -> Outcome {
            Outcome(answer: Self.answer(to: request, code: code), decidedBy: "network", reason: reason,
                    maskedToken: entry?.maskedToken ?? PAN.mask(request.string(2)!), tokenID: entry?.tokenID, issuerID: entry?.issuerID,
                    maskedPAN: entry?.maskedPAN)
        }
        let entry: JournalEntry
        do {
            var found = try await journal.entry(original)
            if found == nil, try await journal.isPending(original) {
                // The original is still being decided (here or on another node): its answer
                // says what to reverse. An acquirer that timed out first reverses at once.
                logger.notice("reversal of an authorization in progress: waiting for its answer", metadata: ["original": "\(original)"])
                found = try await awaitAnswer(original)
                if found == nil {
                    // Never answered (its node died): the issuer releases a hold if it placed one.
                    return await reverseAtIssuer(request, expectedTokenID: nil, issuerID: nil, reason: "original never answered: reversed at the issuer")
                }
            }
            guard let found else { return network(ResponseCode.originalNotFound.rawValue, "original not found") }
            entry = found
        } catch {
            return network(ResponseCode.systemMalfunction.rawValue, "journal unavailable")
        }
        guard entry.responseCode == ResponseCode.approved.rawValue, entry.decidedBy == "issuer", let issuerID = entry.issuerID else {
            return network(ResponseCode.approved.rawValue, "original was not approved: nothing to reverse", entry: entry)
        }
        return await reverseAtIssuer(request, expectedTokenID: entry.tokenID, issuerID: issuerID, reason: "reversed")
    }

    /// Sends the reversal on to the issuer of the reversal's token (the original's, when
    /// known: `expectedTokenID`), with the card number in place of the token.
    func reverseAtIssuer(_ request: Message, expectedTokenID: String?, issuerID: String?, reason: String) async -> Outcome {
        guard let number = try? PAN(unchecked: request.string(2)!), let token = try? await tokens.token(number: number),
              expectedTokenID == nil || token.id == expectedTokenID,
              let (pan, card) = try? await tokens.detokenizeCard(token), let issuer = try? await directory.issuer(id: issuerID ?? token.issuerID) else {
            return Outcome(answer: Self.answer(to: request, code: ResponseCode.originalNotFound.rawValue), decidedBy: "network",
                           reason: "the reversal's card does not match the original", maskedToken: PAN.mask(request.string(2)!), tokenID: nil,
                           issuerID: issuerID, maskedPAN: nil)
        }
        var toIssuer = Message(mti: request.mti)
        for f in [3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49, 90] where request[f] != nil { toIssuer[f] = request[f] }
        toIssuer.set(2, pan.digits)
        toIssuer.set(14, card.expiry)
        do {
            let answer = try await links.send(toIssuer, to: issuer)
            let code = answer.string(39) ?? ResponseCode.systemMalfunction.rawValue
            return Outcome(answer: Self.answer(to: request, code: code), decidedBy: "issuer", reason: code == "00" ? reason : "issuer refused the reversal",
                           maskedToken: token.maskedNumber, tokenID: token.id, issuerID: issuer.id, maskedPAN: card.maskedPAN)
        } catch {
            return Outcome(answer: Self.answer(to: request, code: ResponseCode.issuerUnavailable.rawValue), decidedBy: "timeout", reason: "\(error)",
                           maskedToken: token.maskedNumber, tokenID: token.id, issuerID: issuer.id, maskedPAN: card.maskedPAN)
        }
    }

    /// The issuer did not answer in time and the acquirer was told 91: should the issuer
    /// have approved after all, its hold is released by a reversal the network sends on
    /// its own (one attempt; store-and-forward of reversals is not built yet).
    func reverseLate(_ authorization: Message, issuer: Issuer) {
        var reversal = Message(mti: "0400")
        for f in [2, 3, 4, 11, 14, 32, 37, 41, 42, 49] where authorization[f] != nil { reversal[f] = authorization[f] }
        reversal.set(7, authorization.string(7)!)
        reversal.set(90, OriginalData(mti: authorization.mti, stan: authorization.string(11)!, transmission: authorization.string(7)!,
                                      acquirer: authorization.string(32)!).field90)
        let links = links, logger = logger
        Task {
            do {
                let answer = try await links.send(reversal, to: issuer)
                logger.info("timeout reversal sent", metadata: ["issuer": "\(issuer.id)", "rc": "\(answer.string(39) ?? "-")"])
            } catch {
                logger.warning("timeout reversal not delivered", metadata: ["issuer": "\(issuer.id)", "error": "\(error)"])
            }
        }
    }

    // MARK: - Validation

    /// The first reason a request cannot be processed, with the field to name in the log.
    public static func formatProblem(_ m: Message) -> (field: Int, reason: String)? {
        let mandatory = mandatoryFields[m.mti] ?? []
        for f in mandatory where m[f] == nil { return (f, "mandatory field missing") }
        func allDigits(_ s: String) -> Bool { s.utf8.allSatisfy { (0x30...0x39).contains($0) } }
        func digits(_ f: Int, _ n: Int) -> Bool { m.string(f).map { $0.utf8.count == n && allDigits($0) } ?? false }
        func check(_ f: Int) -> Bool { mandatory.contains(f) }
        if check(3), !digits(3, 6) { return (3, "processing code: 6 digits") }
        if check(4), !(digits(4, 12) && Int64(m.string(4)!)! > 0) { return (4, "amount: 12 digits, more than zero") }
        if check(7), !(digits(7, 10) && validTransmissionTime(m.string(7)!)) { return (7, "transmission date and time: MMDDhhmmss") }
        if check(11), !digits(11, 6) { return (11, "STAN: 6 digits") }
        if check(14), !(digits(14, 4) && (1...12).contains(Int(m.string(14)!.suffix(2)) ?? 0)) { return (14, "expiry: YYMM") }
        if check(2), !((m.string(2).map { (12...19).contains($0.utf8.count) && allDigits($0) }) ?? false) {
            return (2, "primary account number: 12 to 19 digits")
        }
        if check(49), Currency.numeric(m.string(49) ?? "") == nil { return (49, "currency: an ISO 4217 numeric code the network knows") }
        if check(41), (m.string(41) ?? "").trimmingCharacters(in: .whitespaces).isEmpty { return (41, "terminal id") }
        if check(90) {
            guard digits(90, 42), OriginalData(field90: m.string(90)!) != nil else {
                return (90, "original data elements: MTI, STAN, transmission time, acquirer, forwarding institution (42 digits)")
            }
        }
        return nil
    }

    static func validTransmissionTime(_ s: String) -> Bool {
        let d = Array(s.utf8).map { Int($0) - 48 }
        let month = d[0] * 10 + d[1], day = d[2] * 10 + d[3], hour = d[4] * 10 + d[5], minute = d[6] * 10 + d[7], second = d[8] * 10 + d[9]
        return (1...12).contains(month) && (1...31).contains(day) && hour < 24 && minute < 60 && second < 60
    }

}

/// Field 90, original data elements: the original's MTI (4), STAN (6), transmission
/// date and time (10), acquiring institution (11) and forwarding institution (11).
public struct OriginalData: Sendable, Equatable {
    public var mti: String
    public var stan: String
    public var transmission: String
    public var acquirer: String

    public init(mti: String, stan: String, transmission: String, acquirer: String) {
        self.mti = mti; self.stan = stan; self.transmission = transmission; self.acquirer = acquirer
    }

    public init?(field90 s: String) {
        let d = Array(s)
        guard d.count == 42, d.allSatisfy(\.isASCIIDigit) else { return nil }
        mti = String(d[0..<4]); stan = String(d[4..<10]); transmission = String(d[10..<20])
        acquirer = String(String(d[20..<31]).drop { $0 == "0" })
    }

    public var field90: String {
        let acq = String(repeating: "0", count: max(0, 11 - acquirer.count)) + acquirer.suffix(11)
        return mti + stan + transmission + acq + String(repeating: "0", count: 11)
    }
}

/// Which issuer owns a number: the issuers' card and token ranges, re-read from the
/// store when a number matches none (a newly onboarded issuer) and otherwise every few
/// seconds.
final class IssuerDirectory: Sendable {
    let tokens: TokenService
    let cache = Mutex<(issuers: [Issuer], loaded: Date)>(([], .distantPast))
    static let maxAge: TimeInterval = 5

    init(tokens: TokenService) { self.tokens = tokens }

    func invalidate() { cache.withLock { $0 = ([], .distantPast) } }

    func issuers(containing number: String) async throws -> [Issuer] {
        let (cached, loaded) = cache.withLock { ($0.issuers, $0.loaded) }
        let matching = cached.filter { $0.ownsToken(number) || $0.owns(cardNumber: number) }
        if !matching.isEmpty, Date().timeIntervalSince(loaded) < Self.maxAge { return matching }
        let fresh = try await tokens.issuers()
        cache.withLock { $0 = (fresh, Date()) }
        return fresh.filter { $0.ownsToken(number) || $0.owns(cardNumber: number) }
    }

    func issuer(id: String) async throws -> Issuer? {
        if let cached = cache.withLock({ $0.issuers.first { $0.id == id } }) { return cached }
        return try await tokens.issuers().first { $0.id == id }
    }
}
