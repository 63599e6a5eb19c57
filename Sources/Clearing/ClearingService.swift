import Foundation
@_exported import IPM
import ISO8583

public enum ClearingLimits {
    /// The largest clearing file the API takes (about 100,000 presentments).
    public static let maxFileBytes = 32 << 20
}

/// What one record of a submitted file came to.
public struct PresentmentResult: Codable, Sendable, Equatable {
    public enum Outcome: String, Codable, Sendable { case cleared, rejected }
    /// DE 71 (the record's position in the file when it could not be read).
    public var messageNumber: Int
    public var outcome: Outcome
    /// DE 31, when it could be read.
    public var acquirerReference: String?
    /// When cleared: the presentment's id, the authorization it cleared (the journal's key),
    /// the masked token and the amounts.
    public var presentmentID: String?
    public var authorization: String?
    public var maskedToken: String?
    public var amountMinor: Int64?
    public var currency: String?
    /// Cleared for less than was authorized: the issuer releases the rest of its hold.
    public var partial: Bool?
    public var reject: Reject?

    public init(messageNumber: Int, outcome: Outcome, acquirerReference: String? = nil, presentmentID: String? = nil, authorization: String? = nil,
                maskedToken: String? = nil, amountMinor: Int64? = nil, currency: String? = nil, partial: Bool? = nil, reject: Reject? = nil) {
        self.messageNumber = messageNumber; self.outcome = outcome; self.acquirerReference = acquirerReference; self.presentmentID = presentmentID
        self.authorization = authorization; self.maskedToken = maskedToken; self.amountMinor = amountMinor; self.currency = currency
        self.partial = partial; self.reject = reject
    }
}

/// A submitted clearing file and its per-record results: kept, so that the same file ID
/// is taken once and its results can be read again.
public struct ClearingFileResult: Codable, Sendable, Equatable {
    public var fileID: String
    public var acquirerID: String
    public var receivedAt: Date
    /// "ebcdic" or "latin1"; blocked 1014 or plain VBS: the reject file is written alike.
    public var characterSet: String
    public var blocked: Bool
    public var cleared: Int
    public var rejected: Int
    public var results: [PresentmentResult]
    /// The ID of the reject file returned for it (PDS 0105), when a record was rejected.
    public var rejectFileID: String?

    public init(fileID: String, acquirerID: String, receivedAt: Date, characterSet: String, blocked: Bool, cleared: Int, rejected: Int,
                results: [PresentmentResult], rejectFileID: String? = nil) {
        self.fileID = fileID; self.acquirerID = acquirerID; self.receivedAt = receivedAt; self.characterSet = characterSet; self.blocked = blocked
        self.cleared = cleared; self.rejected = rejected; self.results = results; self.rejectFileID = rejectFileID
    }
}

/// A presentment that cleared its authorization: what the issuer's clearing file and the
/// settlement are made of. No clear token or card number.
public struct ClearedPresentment: Codable, Sendable, Equatable {
    public var id: String
    public var fileID: String
    public var messageNumber: Int
    public var acquirerID: String
    public var acquirerReference: String
    /// The journal key of the authorization it cleared (unique: cleared once).
    public var authorization: String
    public var tokenID: String
    public var maskedToken: String?
    public var issuerID: String
    public var processingCode: String
    public var mcc: String
    public var amountMinor: Int64
    public var currency: String
    public var authorizedMinor: Int64
    public var billingCurrency: String?
    public var billingAmountMinor: Int64?
    public var localTime: String
    public var authorizedAt: Date
    public var clearedAt: Date
    /// Field 10 of the authorization, when converted.
    public var conversionRate: String?
    /// Its interchange, fees and the issuer's amount, as priced when cleared.
    public var pricing: Pricing?
    /// Absent until disputed (cleared).
    public var state: PresentmentState?
    public var chargeback: Chargeback?
    public var secondPresentment: SecondPresentment?

    public init(id: String, fileID: String, messageNumber: Int, acquirerID: String, acquirerReference: String, authorization: String,
                tokenID: String, maskedToken: String?, issuerID: String, processingCode: String, mcc: String, amountMinor: Int64,
                currency: String, authorizedMinor: Int64, billingCurrency: String?, billingAmountMinor: Int64?, localTime: String,
                authorizedAt: Date, clearedAt: Date, conversionRate: String? = nil, pricing: Pricing? = nil) {
        self.id = id; self.fileID = fileID; self.messageNumber = messageNumber; self.acquirerID = acquirerID
        self.acquirerReference = acquirerReference; self.authorization = authorization; self.tokenID = tokenID; self.maskedToken = maskedToken
        self.issuerID = issuerID; self.processingCode = processingCode; self.mcc = mcc; self.amountMinor = amountMinor; self.currency = currency
        self.authorizedMinor = authorizedMinor; self.billingCurrency = billingCurrency; self.billingAmountMinor = billingAmountMinor
        self.localTime = localTime; self.authorizedAt = authorizedAt; self.clearedAt = clearedAt
        self.conversionRate = conversionRate; self.pricing = pricing
    }
}

/// The token and approval code a presentment is matched by.
public struct ApprovalKey: Hashable, Sendable {
    public var tokenID: String
    public var approvalCode: String
    public init(tokenID: String, approvalCode: String) { self.tokenID = tokenID; self.approvalCode = approvalCode }
}

public enum ClearingStoreError: Error, Equatable, CustomStringConvertible {
    /// A file with this ID was taken before.
    case duplicateFile(String)
    /// An authorization of the file was cleared by another file meanwhile: match again.
    case clearedMeanwhile
    /// Only a closed window can be settled.
    case notClosed(String)

    public var description: String {
        switch self {
        case .duplicateFile(let id): "file \(id) was received before"
        case .clearedMeanwhile: "an authorization was cleared by another file meanwhile"
        case .notClosed(let id): "window \(id) is not closed: only a closed window can be settled"
        }
    }
}

/// Where clearing keeps its files and cleared presentments, beside the network's journal
/// (whose approvals and reversals it reads).
public protocol ClearingStore: Sendable {
    func clearingFile(id: String) async throws -> ClearingFileResult?
    /// The approved authorizations (0100 and 0200) of each token and approval code.
    func clearable(_ keys: Set<ApprovalKey>) async throws -> [ApprovalKey: [ClearableAuthorization]]
    /// Which of `references` (DE 31) this acquirer presented before.
    func presentedReferences(acquirerID: String, _ references: Set<String>) async throws -> Set<String>
    /// Records a file, its results, its cleared presentments and their settlement lines in
    /// one transaction: `duplicateFile` when the ID was taken, `clearedMeanwhile` when one
    /// of the authorizations was cleared since it was read (nothing written either way).
    /// Each line goes to the open window of its currency; a window whose cut-off is not
    /// after `at` is closed first (at its cut-off) and a new one opened until `nextCutOff`.
    /// Without a file: single-message authorizations cleared by themselves.
    func record(_ file: ClearingFileResult?, cleared: [ClearedPresentment], lines: [SettlementLine], at: Date, nextCutOff: Date) async throws
    /// Approved single-message authorizations (0200) claimed in [`from`, `to`), neither
    /// reversed nor cleared, oldest first.
    func unclearedSingleMessages(from: Date, to: Date, limit: Int) async throws -> [ClearableAuthorization]

    /// The operator's fee schedule (nil: never set).
    func feeSchedule() async throws -> FeeSchedule?
    func saveFeeSchedule(_ schedule: FeeSchedule) async throws
    /// Closes every open window whose cut-off is not after `at`, at its cut-off.
    func closeDueWindows(at: Date) async throws
    /// Closes the open window of `currency` now; nil when none is open.
    func closeWindow(currency: String, at: Date) async throws -> SettlementWindow?
    /// A closed window settled (funds moved); `ClearingStoreError.notClosed` otherwise.
    func settleWindow(id: String, at: Date) async throws -> SettlementWindow
    func windows(currency: String?) async throws -> [SettlementWindow]
    func window(id: String) async throws -> SettlementWindow?
    /// Net positions in a window, by participant.
    func positions(windowID: String) async throws -> [NetPosition]
    /// A window's lines, of one participant or all, in the order recorded.
    func lines(windowID: String, participant: String?) async throws -> [SettlementLine]
    func presentment(id: String) async throws -> ClearedPresentment?
    /// Gathers the issuer's cleared presentments that are in no file yet (up to `limit`,
    /// oldest first) into `file`, in one transaction: its count set; `duplicateFile` when
    /// its ID was taken.
    func makeIssuerFile(_ file: IssuerFile, limit: Int) async throws -> IssuerFile
    func issuerFile(id: String) async throws -> IssuerFile?
    /// The issuer files of an issuer made on a day (for the next sequence number).
    func issuerFileCount(issuerID: String, since: Date) async throws -> Int
    func presentments(issuerFile id: String) async throws -> [ClearedPresentment]
    /// Replaces a presentment that is still in `expected` state, and records its lines in
    /// the open windows, in one transaction; `ClearingStoreError.clearedMeanwhile` when its
    /// state changed since it was read.
    func updatePresentment(_ p: ClearedPresentment, expected: PresentmentState, lines: [SettlementLine], at: Date, nextCutOff: Date) async throws
}

/// What a token number is, for clearing: its id, masked number and issuer.
public struct TokenIdentity: Sendable, Equatable {
    public var tokenID: String
    public var maskedNumber: String
    public var issuerID: String
    public init(tokenID: String, maskedNumber: String, issuerID: String) { self.tokenID = tokenID; self.maskedNumber = maskedNumber; self.issuerID = issuerID }
}

/// What interchange depends on of an issuer.
public struct IssuerTerms: Sendable, Equatable {
    /// ISO 3166 alpha-2.
    public var market: String
    public var product: CardProduct
    public init(market: String, product: CardProduct) { self.market = market; self.product = product }
}

/// The acquirer a file comes from.
public struct ClearingAcquirer: Sendable, Equatable {
    public var id: String
    /// Its institution code (field 32 of its authorizations).
    public var institutionID: String
    public init(id: String, institutionID: String) { self.id = id; self.institutionID = institutionID }
}

/// Takes acquirers' clearing files: reads them, matches each first presentment to its
/// authorization by the rules, records the file once with a result per record.
public struct ClearingService: Sendable {
    public enum SubmitError: Error, Equatable, CustomStringConvertible {
        case file(ClearingFile.Error)
        case duplicate(fileID: String, receivedAt: Date)

        public var description: String {
            switch self {
            case .file(let e): e.description
            case .duplicate(let id, let at): "file \(id) was received at \(ISO8601DateFormatter().string(from: at)); a file is taken once"
            }
        }
    }

    let store: any ClearingStore
    let identify: @Sendable (String) async throws -> TokenIdentity?
    /// An issuer's market (its country) and card product, for interchange.
    let issuerTerms: @Sendable (String) async throws -> IssuerTerms?
    /// The acquirer of an institution code (field 32), for single-message clearing.
    let acquirerID: @Sendable (String) async throws -> String?
    public let cutOff: SettlementCutOff
    /// A single-message authorization clears once it is this old (60 s by default): a
    /// reversal (a dispense that failed) comes before.
    public let singleMessageGrace: TimeInterval
    public let rules: ClearingRules
    let now: @Sendable () -> Date
    let newID: @Sendable () -> String

    public init(store: any ClearingStore, rules: ClearingRules = .standard, cutOff: SettlementCutOff = .midnight, singleMessageGrace: TimeInterval = 60,
                now: @escaping @Sendable () -> Date = Date.init,
                issuerTerms: @escaping @Sendable (String) async throws -> IssuerTerms? = { _ in nil },
                acquirerID: @escaping @Sendable (String) async throws -> String? = { _ in nil },
                newID: @escaping @Sendable () -> String = ClearingService.presentmentID,
                identify: @escaping @Sendable (String) async throws -> TokenIdentity?) {
        self.store = store; self.rules = rules; self.now = now; self.newID = newID; self.identify = identify
        self.issuerTerms = issuerTerms; self.cutOff = cutOff; self.acquirerID = acquirerID; self.singleMessageGrace = singleMessageGrace
    }

    public func file(id: String) async throws -> ClearingFileResult? { try await store.clearingFile(id: id) }

    /// `prs_`, the time in milliseconds (11 hex digits) and 13 random hex digits: IDs sort
    /// by time, so that new ones go at the end of every index keyed by them (the network's
    /// and the bank's), not all over it.
    @Sendable public static func presentmentID() -> String {
        let millis = UInt64(max(0, Date().timeIntervalSince1970 * 1000))
        let random = UInt64.random(in: 0..<(1 << 52))
        return "prs_" + String(millis, radix: 16).leftPadded(to: 11) + String(random, radix: 16).leftPadded(to: 13)
    }

    public func submit(_ bytes: [UInt8], from acquirer: ClearingAcquirer) async throws -> ClearingFileResult {
        let file: ClearingFile
        do { file = try ClearingFile.read(bytes) } catch { throw SubmitError.file(error) }
        guard ClearingFile.processor(of: file.id) == acquirer.institutionID.leftPadded(to: 11) else {
            throw SubmitError.file(.wrongProcessor(fileID: file.id, institution: acquirer.institutionID))
        }
        if let earlier = try await store.clearingFile(id: file.id) { throw SubmitError.duplicate(fileID: file.id, receivedAt: earlier.receivedAt) }
        // Matching reads what is cleared; should another file clear one of these
        // authorizations between the read and the write, match again.
        for attempt in 1...5 {
            let (result, matched) = try await match(file, from: acquirer)
            let (cleared, lines) = try await price(matched, source: file.id)
            do {
                try await store.record(result, cleared: cleared, lines: lines, at: result.receivedAt, nextCutOff: cutOff.next(after: result.receivedAt))
                return result
            } catch ClearingStoreError.duplicateFile {
                let at = try await store.clearingFile(id: file.id)?.receivedAt ?? now()
                throw SubmitError.duplicate(fileID: file.id, receivedAt: at)
            } catch ClearingStoreError.clearedMeanwhile where attempt < 5 {
                continue
            }
        }
        throw ClearingStoreError.clearedMeanwhile
    }

    /// Each cleared presentment priced by the operator's fee schedule, and their lines summed
    /// under `source` (per participant, currency and kind: a file's presentments move money
    /// as one line each; each presentment's pricing is kept with it).
    func price(_ cleared: [ClearedPresentment], source: String) async throws -> ([ClearedPresentment], [SettlementLine]) {
        let schedule = try await store.feeSchedule() ?? .standard
        var terms: [String: IssuerTerms] = [:]
        var priced: [ClearedPresentment] = []
        var lines: [SettlementLine] = []
        for var p in cleared {
            if terms[p.issuerID] == nil { terms[p.issuerID] = try await issuerTerms(p.issuerID) ?? IssuerTerms(market: "*", product: .debit) }
            let t = terms[p.issuerID] ?? IssuerTerms(market: "*", product: .debit)
            let (pricing, more) = try schedule.price(p, market: t.market, product: t.product)
            p.pricing = pricing
            priced.append(p)
            lines += more
        }
        return (priced, SettlementLine.summed(lines, source: source))
    }

    // MARK: Settlement windows

    public func feeSchedule() async throws -> FeeSchedule { try await store.feeSchedule() ?? .standard }

    public func setFeeSchedule(_ schedule: FeeSchedule) async throws {
        try schedule.validate()
        try await store.saveFeeSchedule(schedule)
    }

    /// The windows, after closing those whose cut-off has passed.
    public func windows(currency: String?) async throws -> [SettlementWindow] {
        try await store.closeDueWindows(at: now())
        return try await store.windows(currency: currency)
    }

    public func window(id: String) async throws -> SettlementWindow? {
        try await store.closeDueWindows(at: now())
        return try await store.window(id: id)
    }

    /// Clears the single-message authorizations (ATM cash, 0200) answered more than a
    /// minute ago within the presentment window: each is its own presentment, for its
    /// authorized amount, priced and put in the open windows. Returns how many.
    @discardableResult
    public func clearSingleMessages() async throws -> Int {
        var total = 0
        while true {
            let at = now()
            let found = try await store.unclearedSingleMessages(from: at - rules.presentmentWindow, to: at - singleMessageGrace, limit: 1_000)
            guard !found.isEmpty else { return total }
            var acquirers: [String: String] = [:]
            var cleared: [ClearedPresentment] = []
            for a in found {
                let institution = String(a.acquirerInstitution)
                if acquirers[institution] == nil { acquirers[institution] = try await acquirerID(institution) ?? institution }
                cleared.append(ClearedPresentment(
                    id: newID(), fileID: "single-message", messageNumber: 0, acquirerID: acquirers[institution] ?? institution,
                    acquirerReference: a.key, authorization: a.key, tokenID: a.tokenID, maskedToken: a.maskedToken, issuerID: a.issuerID,
                    processingCode: a.processingCode, mcc: "6011", amountMinor: a.amountMinor, currency: a.currency, authorizedMinor: a.amountMinor,
                    billingCurrency: a.billingCurrency, billingAmountMinor: a.billingAmountMinor, localTime: Self.localTime(a.at), authorizedAt: a.at,
                    clearedAt: at, conversionRate: a.conversionRate))
            }
            let (priced, lines) = try await price(cleared, source: "single-message:" + String(Int64(at.timeIntervalSince1970 * 1000)))
            do {
                try await store.record(nil, cleared: priced, lines: lines, at: at, nextCutOff: cutOff.next(after: at))
            } catch ClearingStoreError.clearedMeanwhile {
                continue // another node cleared some: read again
            }
            total += priced.count
        }
    }

    /// YYMMDDhhmmss, UTC (DE 12).
    public static func localTime(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return [(c.year ?? 0) % 100, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0]
            .map { String($0).leftPadded(to: 2) }.joined()
    }

    public func closeDueWindows() async throws { try await store.closeDueWindows(at: now()) }

    // MARK: Issuers' files

    /// The issuer's next clearing file: its presentments cleared since its last one (up to
    /// 100,000; the rest in the next). `processor` is its first card range.
    public func makeIssuerFile(issuerID: String, processor: String) async throws -> IssuerFile {
        for _ in 0..<3 {
            let at = now()
            let day = Date(timeIntervalSince1970: floor(at.timeIntervalSince1970 / 86_400) * 86_400)
            let sequence = try await store.issuerFileCount(issuerID: issuerID, since: day) + 1
            let id = "002" + Self.localTime(at).prefix(6) + String(processor.prefix(11)).leftPadded(to: 11) + String(sequence % 100_000).leftPadded(to: 5)
            do {
                return try await store.makeIssuerFile(IssuerFile(id: id, issuerID: issuerID, createdAt: at, presentments: 0), limit: 100_000)
            } catch ClearingStoreError.duplicateFile {
                continue // another node made one at the same moment: the next sequence
            }
        }
        throw ClearingStoreError.clearedMeanwhile
    }

    public func issuerFile(id: String) async throws -> IssuerFile? { try await store.issuerFile(id: id) }

    /// The file's bytes (EBCDIC, 1014-blocked), its card numbers from `cardNumber` (the
    /// vault), made now and kept nowhere.
    public func issuerFileBytes(_ file: IssuerFile, cardNumber: @Sendable (String) async throws -> String) async throws -> [UInt8] {
        var messages: [IPMMessage] = []
        // Each token's card number from the vault once per file (a card has many presentments).
        var numbers: [String: String] = [:]
        for p in try await store.presentments(issuerFile: file.id) {
            let number: String
            if let known = numbers[p.tokenID] { number = known } else {
                number = try await cardNumber(p.tokenID)
                numbers[p.tokenID] = number
            }
            messages.append(try IssuerFile.record(p, cardNumber: number))
        }
        return try ClearingFile.write(id: file.id, messages: messages)
    }

    // MARK: Disputes

    public func presentment(id: String) async throws -> ClearedPresentment? { try await store.presentment(id: id) }

    /// The issuer's first chargeback: within 120 days of the clearing, a known reason code,
    /// up to the presented amount (all of it when `amountMinor` is nil); the amount goes
    /// back to the issuer in the next window.
    public func chargeBack(_ id: String, issuerID: String, reasonCode: String, amountMinor: Int64?) async throws -> ClearedPresentment {
        guard var p = try await store.presentment(id: id), p.issuerID == issuerID else { throw DisputeError.notFound(id) }
        guard p.disputeState == .cleared else { throw DisputeError.state(p.disputeState) }
        guard Chargeback.reasons[reasonCode] != nil else { throw DisputeError.reason(reasonCode) }
        let amount = amountMinor ?? p.amountMinor
        guard amount >= 1, amount <= p.amountMinor else { throw DisputeError.amount(max: p.amountMinor) }
        let at = now()
        guard at.timeIntervalSince(p.clearedAt) <= Chargeback.timeLimit else { throw DisputeError.late(days: Int(Chargeback.timeLimit / 86_400)) }
        let lines = try p.disputeLines(amount, toIssuer: true)
        p.state = .chargedBack
        p.chargeback = Chargeback(reasonCode: reasonCode, amountMinor: amount, at: at)
        try await store.updatePresentment(p, expected: .cleared, lines: lines, at: at, nextCutOff: cutOff.next(after: at))
        return p
    }

    /// The acquirer's second presentment: within 45 days of the chargeback, up to the
    /// amount charged back; that amount goes to the acquirer again in the next window.
    public func represent(_ id: String, acquirerID: String, amountMinor: Int64?) async throws -> ClearedPresentment {
        guard var p = try await store.presentment(id: id), p.acquirerID == acquirerID else { throw DisputeError.notFound(id) }
        guard p.disputeState == .chargedBack, let chargeback = p.chargeback else { throw DisputeError.state(p.disputeState) }
        let amount = amountMinor ?? chargeback.amountMinor
        guard amount >= 1, amount <= chargeback.amountMinor else { throw DisputeError.amount(max: chargeback.amountMinor) }
        let at = now()
        guard at.timeIntervalSince(chargeback.at) <= SecondPresentment.timeLimit else {
            throw DisputeError.late(days: Int(SecondPresentment.timeLimit / 86_400))
        }
        let lines = try p.disputeLines(amount, toIssuer: false)
        p.state = .represented
        p.secondPresentment = SecondPresentment(amountMinor: amount, at: at)
        try await store.updatePresentment(p, expected: .chargedBack, lines: lines, at: at, nextCutOff: cutOff.next(after: at))
        return p
    }

    public func closeWindow(currency: String) async throws -> SettlementWindow? {
        try await clearSingleMessages()
        try await store.closeDueWindows(at: now())
        return try await store.closeWindow(currency: currency, at: now())
    }

    public func settleWindow(id: String) async throws -> SettlementWindow { try await store.settleWindow(id: id, at: now()) }

    public func positions(windowID: String) async throws -> [NetPosition] { try await store.positions(windowID: windowID) }

    public func lines(windowID: String, participant: String?) async throws -> [SettlementLine] {
        try await store.lines(windowID: windowID, participant: participant)
    }

    func match(_ file: ClearingFile, from acquirer: ClearingAcquirer) async throws -> (ClearingFileResult, [ClearedPresentment]) {
        let at = now()
        // Read every record; find its token.
        var read: [(position: Int, presentment: Result<Presentment, Reject>)] = []
        for (i, record) in file.records.enumerated() {
            switch record {
            case .failure(let e): read.append((i + 2, .failure(Reject(.format, detail: "\(e)"))))
            case .success(let m):
                read.append((i + 2, Result { () throws(Reject) -> Presentment in try Presentment(m) }))
            }
        }
        var identities: [String: TokenIdentity] = [:]
        for case (_, .success(let p)) in read where identities[p.number] == nil {
            if let id = try await identify(p.number) { identities[p.number] = id }
        }
        var keys = Set<ApprovalKey>()
        for case (_, .success(let p)) in read {
            if let id = identities[p.number] { keys.insert(ApprovalKey(tokenID: id.tokenID, approvalCode: p.approvalCode)) }
        }
        let candidates = try await clearable(keys)
        var references = Set<String>()
        for case (_, .success(let p)) in read { references.insert(p.acquirerReference) }
        let presentedBefore = try await store.presentedReferences(acquirerID: acquirer.id, references)

        var results: [PresentmentResult] = []
        var cleared: [ClearedPresentment] = []
        var taken = Set<String>()
        var seenReferences = Set<String>()
        for (position, outcome) in read {
            let p: Presentment
            switch outcome {
            case .failure(let reject):
                results.append(PresentmentResult(messageNumber: position, outcome: .rejected, reject: reject))
                continue
            case .success(let presentment): p = presentment
            }
            func reject(_ r: Reject) {
                results.append(PresentmentResult(messageNumber: p.messageNumber, outcome: .rejected, acquirerReference: p.acquirerReference,
                                                 maskedToken: identities[p.number]?.maskedNumber, amountMinor: p.amountMinor,
                                                 currency: p.currency.numeric, reject: r))
            }
            guard p.acquirerInstitution == acquirer.institutionID else {
                reject(Reject(.noAuthorization, element: 32, detail: "DE 32 is not this acquirer's institution code"))
                continue
            }
            guard !presentedBefore.contains(p.acquirerReference), seenReferences.insert(p.acquirerReference).inserted else {
                reject(Reject(.duplicateReference, element: 31))
                continue
            }
            guard let identity = identities[p.number] else { reject(Reject(.unknownNumber, element: 2)); continue }
            let found = candidates[ApprovalKey(tokenID: identity.tokenID, approvalCode: p.approvalCode)] ?? []
            switch rules.match(p, candidates: found, taken: taken, at: at) {
            case .failure(let r): reject(r)
            case .success(let a):
                taken.insert(a.key)
                let id = newID()
                results.append(PresentmentResult(messageNumber: p.messageNumber, outcome: .cleared, acquirerReference: p.acquirerReference,
                                                 presentmentID: id, authorization: a.key, maskedToken: identity.maskedNumber,
                                                 amountMinor: p.amountMinor, currency: p.currency.numeric, partial: p.amountMinor < a.amountMinor))
                cleared.append(ClearedPresentment(
                    id: id, fileID: file.id, messageNumber: p.messageNumber, acquirerID: acquirer.id, acquirerReference: p.acquirerReference,
                    authorization: a.key, tokenID: a.tokenID, maskedToken: identity.maskedNumber, issuerID: a.issuerID,
                    processingCode: p.processingCode, mcc: p.mcc, amountMinor: p.amountMinor, currency: p.currency.numeric,
                    authorizedMinor: a.amountMinor, billingCurrency: a.billingCurrency, billingAmountMinor: a.billingAmountMinor,
                    localTime: p.localTime, authorizedAt: a.at, clearedAt: at, conversionRate: a.conversionRate))
            }
        }
        let rejected = results.count - cleared.count
        let result = ClearingFileResult(
            fileID: file.id, acquirerID: acquirer.id, receivedAt: at, characterSet: file.characterSet == .ebcdic ? "ebcdic" : "latin1",
            blocked: file.blocked, cleared: cleared.count, rejected: rejected, results: results,
            rejectFileID: rejected > 0 ? Self.rejectFileID(for: file.id) : nil)
        return (result, cleared)
    }

    /// The candidates of many keys read in parts at once, a part per core (up to four): the
    /// store's reads (a SQLite pool's readers, PostgreSQL's connections) run side by side.
    func clearable(_ keys: Set<ApprovalKey>) async throws -> [ApprovalKey: [ClearableAuthorization]] {
        let parts = keys.count < 2_000 ? 1 : max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
        guard parts > 1 else { return try await store.clearable(keys) }
        let all = Array(keys)
        let size = (all.count + parts - 1) / parts
        return try await withThrowingTaskGroup(of: [ApprovalKey: [ClearableAuthorization]].self) { group in
            for start in stride(from: 0, to: all.count, by: size) {
                let part = Set(all[start..<min(start + size, all.count)])
                group.addTask { [store] in try await store.clearable(part) }
            }
            var found: [ApprovalKey: [ClearableAuthorization]] = [:]
            for try await some in group { found.merge(some) { first, _ in first } }
            return found
        }
    }

    /// The reject file's ID: the ID of the file it answers with type 003.
    static func rejectFileID(for id: String) -> String { "003" + id.dropFirst(3) }

    /// The reject file for a result: per rejected record a 1644 message exception (function
    /// code 691) with the record's DE 71 in PDS 0138, DE 31 as it came, and PDS 0005 the
    /// reject: reason code (4 digits), data element (3 digits), the detail.
    public static func rejectFile(_ result: ClearingFileResult) throws -> [UInt8]? {
        guard let id = result.rejectFileID else { return nil }
        let messages = try result.results.filter { $0.outcome == .rejected }.map { r -> IPMMessage in
            var m = IPMMessage(mti: "1644")
            m[24] = "691"
            if let arn = r.acquirerReference { m[31] = arn }
            let reject = r.reject ?? Reject(.format)
            let detail = String(Latin1.string(Latin1.bytes(reject.detail)).prefix(900))
            try m.setPDS([5: reject.reason.rawValue + String(reject.element).leftPadded(to: 3) + detail,
                          138: String(r.messageNumber).leftPadded(to: 8), 280: result.fileID])
            return m
        }
        return try ClearingFile.write(id: id, messages: messages, characterSet: result.characterSet == "latin1" ? .latin1 : .ebcdic,
                                      blocked: result.blocked)
    }
}
