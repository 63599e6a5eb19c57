import EMV
import Foundation
import Participants

/// Seals and opens what the network keeps of card data (the vault's data key).
public protocol MessageSealing: Sendable {
    func seal(_ bytes: [UInt8], context: String) -> Data
    func open(_ sealed: Data, context: String) throws -> [UInt8]
}

/// What the network asks of the token service, and nothing more (DESIGN.md "a tap",
/// step 4): one call per authorization that checks the token and its cryptogram and
/// answers the card to route to or the reason to decline, one call for the response
/// cryptogram, and the card behind a token for a reversal.
public protocol NetworkTokenService: MessageSealing {
    /// Every check of a token authorization but the last: the ATC is not marked used here.
    /// The network spends it in the same write as its journal claim, and only for a
    /// cryptogram that verified, so that noise cannot burn a card's counters.
    func authorize(_ request: TokenAuthorizationRequest) async throws -> Result<TokenAuthorization, TokenDecline>
    /// Tag 91 for the card (EMV Book 2 §8.2): the ARPC of the answer's authorisation
    /// response code (two bytes, ASCII) under the session key of the ATC, in the token's
    /// profile (TDES: method 1, ARPC ‖ ARC; SM4: method 2, ARPC ‖ CSU).
    func issuerAuthenticationData(for authorization: TokenAuthorization, responseCode: [UInt8]) async throws -> [UInt8]
    /// The token and card behind a token number, for a reversal: nil when no token has it.
    func routing(forToken number: PAN) async throws -> TokenRouting?
    /// A keyed digest (HMAC under the vault's fingerprint key) of bytes that may hold card
    /// data, so that the network can compare messages without storing them.
    func digest(_ bytes: [UInt8], purpose: String) -> String
    /// Another node changed tokens or cards: forget what is cached.
    func invalidateCaches()
    /// Keeps (or with nil forgets) the issuer's last stopping answer for a card, for
    /// stand-in: every node sees it within the read cache's bound.
    func recordIssuerStatus(cardID: String, _ status: CardIssuerStatus?) async throws
}

/// One token authorization as the network read it from the acquirer's message.
public struct TokenAuthorizationRequest: Sendable {
    /// Field 2.
    public var tokenNumber: PAN
    /// Field 14, YYMM.
    public var expiry: String
    /// Field 22, three digits: the first two say how the card was read.
    public var entryMode: String
    /// Field 4, in minor units.
    public var amountMinor: Int64
    /// Field 49, ISO 4217 numeric.
    public var currency: String
    /// Field 55, when present.
    public var chipData: [TLV]?
    /// The issuer's freshness rules (key lifetime; the ATC window is the network's to check
    /// when it spends the ATC).
    public var policy: CryptogramPolicy

    public init(tokenNumber: PAN, expiry: String, entryMode: String, amountMinor: Int64, currency: String, chipData: [TLV]?,
                policy: CryptogramPolicy = .standard) {
        self.tokenNumber = tokenNumber; self.expiry = expiry; self.entryMode = entryMode; self.amountMinor = amountMinor
        self.currency = currency; self.chipData = chipData; self.policy = policy
    }
}

/// The card a token stands for, as far as the network needs it to route.
public struct TokenRouting: Sendable, Equatable {
    public var tokenID: String
    public var maskedToken: String
    public var issuerID: String
    /// The card number, for the issuer only.
    public var pan: PAN
    /// YYMM.
    public var cardExpiry: String
    public var maskedPAN: String
    /// The vault's card.
    public var cardID: String
    /// The issuer's last answer that stopped the card, if it has not approved it since.
    public var issuerStatus: CardIssuerStatus?

    public init(tokenID: String, maskedToken: String, issuerID: String, pan: PAN, cardExpiry: String, maskedPAN: String,
                cardID: String = "", issuerStatus: CardIssuerStatus? = nil) {
        self.tokenID = tokenID; self.maskedToken = maskedToken; self.issuerID = issuerID; self.pan = pan
        self.cardExpiry = cardExpiry; self.maskedPAN = maskedPAN; self.cardID = cardID; self.issuerStatus = issuerStatus
    }
}

/// A token authorization that passed: where to route it, and the ATC to spend.
public struct TokenAuthorization: Sendable, Equatable {
    public var routing: TokenRouting
    public var atc: ApplicationTransactionCounter
    /// The ARQC (9F26), for the response cryptogram.
    public var arqc: [UInt8]

    public init(routing: TokenRouting, atc: ApplicationTransactionCounter, arqc: [UInt8]) {
        self.routing = routing; self.atc = atc; self.arqc = arqc
    }
}

/// Why the token service declined an authorization before the issuer was asked. The
/// network maps each to its response code in one table (`NetworkSwitch`).
public enum TokenDecline: Error, Sendable, Equatable, CustomStringConvertible {
    /// The chip data is missing or malformed (the field is named).
    case format(field: Int, reason: String)
    /// No token has this number.
    case unknownToken
    case tokenNotActive(status: Token.Status)
    /// The market of the token's device, or of its card's issuer, is suspended.
    case marketSuspended(country: String)
    case expiryMismatch
    /// Entry mode not allowed for tokens: only contactless chip and in-app with a cryptogram.
    case domainControl(entryMode: String)
    /// Field 55 does not agree with the message (amount, currency, token).
    case chipDataMismatch(String)
    case cryptogramInvalid
    /// 9F27 does not say ARQC (bits 8–7 `10`): an online authorization needs one.
    case notARQC(cid: UInt8)
    /// 9A is more than a day from the network's date (UTC).
    case transactionDateOutOfRange(String)
    /// The single-use key of this ATC was delivered longer ago than the issuer allows.
    case keyExpired(atc: UInt16)
    /// The cryptogram's ATC was accepted before (found when the network spends it).
    case atcReplayed(UInt16)
    /// The ATC is further below the highest accepted for the token than the issuer's window.
    case atcOutsideWindow(atc: UInt16, highest: UInt16)

    public var description: String {
        switch self {
        case .format(let field, let reason): "format error in field \(field): \(reason)"
        case .unknownToken: "unknown token"
        case .tokenNotActive(let status): "token \(status.rawValue)"
        case .marketSuspended(let country): "market \(country) suspended"
        case .expiryMismatch: "expiry does not match the token's"
        case .domainControl(let mode): "entry mode \(mode) not allowed for tokens"
        case .chipDataMismatch(let what): "chip data mismatch: \(what)"
        case .cryptogramInvalid: "cryptogram invalid"
        case .notARQC(let cid): "cryptogram information data \(Hex.encode([cid])) is not an ARQC"
        case .transactionDateOutOfRange(let date): "transaction date \(date) is more than a day from the network's"
        case .keyExpired(let atc): "the key of ATC \(atc) has expired"
        case .atcReplayed(let atc): "ATC \(atc) used before"
        case .atcOutsideWindow(let atc, let highest): "ATC \(atc) is too far below \(highest), the highest accepted"
        }
    }
}

extension TokenService: NetworkTokenService {
    /// POS entry mode (field 22, first two digits): 07 contactless chip; 81 in-app; 03 a
    /// QR code (each with a cryptogram, which is checked like any other).
    public static let allowedEntryModes: Set<String> = ["07", "81", "03"]

    /// The Passway CDOL1, in the order the card MACs it (DESIGN.md "Cryptography").
    static let cdol1: [Tag] = [.amountAuthorised, .amountOther, .terminalCountryCode, .terminalVerificationResults,
                               .transactionCurrencyCode, .transactionDate, .transactionType, .unpredictableNumber,
                               .applicationInterchangeProfile, .applicationTransactionCounter]

    static let zeroAmount = [UInt8](repeating: 0, count: 6)

    public func authorize(_ request: TokenAuthorizationRequest) async throws -> Result<TokenAuthorization, TokenDecline> {
        guard let token = try await token(number: request.tokenNumber) else { return .failure(.unknownToken) }
        guard token.status == .active else { return .failure(.tokenNotActive(status: token.status)) }
        // At once, before (and whatever) the market's sweep of its tokens has reached this one.
        if let country = try await suspendedMarket(of: token) { return .failure(.marketSuspended(country: country)) }
        guard request.expiry == token.expiry else { return .failure(.expiryMismatch) }
        guard Self.allowedEntryModes.contains(String(request.entryMode.prefix(2))) else { return .failure(.domainControl(entryMode: request.entryMode)) }
        guard let icc = request.chipData else { return .failure(.format(field: 55, reason: "no chip data for a chip entry mode")) }
        var data: [UInt8] = []
        for tag in Self.cdol1 {
            guard let value = icc.value(tag) else { return .failure(.format(field: 55, reason: "tag \(tag.hex) missing")) }
            data += value
        }
        guard let arqc = icc.value(.applicationCryptogram), arqc.count == 8 else { return .failure(.format(field: 55, reason: "9F26 missing")) }
        guard let atcBytes = icc.value(.applicationTransactionCounter), atcBytes.count == 2 else {
            return .failure(.format(field: 55, reason: "9F36 must be 2 bytes"))
        }
        let atc = ApplicationTransactionCounter(UInt16(atcBytes[0]) << 8 | UInt16(atcBytes[1]))
        guard let cid = icc.value(.cryptogramInformationData), cid.count == 1 else { return .failure(.format(field: 55, reason: "9F27 must be 1 byte")) }
        guard cid[0] & 0xC0 == 0x80 else { return .failure(.notARQC(cid: cid[0])) }
        if let decline = Self.checkTransactionDate(icc.value(.transactionDate) ?? [], now: now()) { return .failure(decline) }

        // The chip signed what the message says, or the message was changed on the way. A
        // consumer-presented QR code is made before the device knows the amount or the
        // currency: its cryptogram covers zeros there (EMV QRCPS), and only there are they
        // not compared with fields 4 and 49.
        guard (0...999_999_999_999).contains(request.amountMinor) else { return .failure(.chipDataMismatch("9F02 differs from field 4")) }
        let consumerPresented = request.entryMode.hasPrefix("03") && icc.value(.amountAuthorised) == Self.zeroAmount
            && icc.value(.transactionCurrencyCode) == [0, 0]
        if !consumerPresented {
            guard icc.value(.amountAuthorised) == bcd(UInt64(request.amountMinor), digits: 12) else {
                return .failure(.chipDataMismatch("9F02 differs from field 4"))
            }
            guard icc.value(.transactionCurrencyCode) == (try? Hex.decode("0" + request.currency)) else {
                return .failure(.chipDataMismatch("5F2A differs from field 49"))
            }
        }
        if let pan5A = icc.value(.pan), Hex.encode(pan5A).trimmingCharacters(in: ["F"]) != request.tokenNumber.digits {
            return .failure(.chipDataMismatch("5A differs from field 2"))
        }

        guard try await verifyCryptogram(token: token, atc: atc, data: data, arqc: arqc) else { return .failure(.cryptogramInvalid) }
        // The key verified; was it still in date? (A token read before a replenishment
        // knows no batch for a fresh ATC: its key was delivered since, so it is fresh.)
        if atc.value < token.nextATC {
            guard let delivered = token.deliveredAt(atc: atc.value),
                  now().timeIntervalSince(delivered) <= Double(request.policy.keyLifetimeDays) * 86_400 else {
                return .failure(.keyExpired(atc: atc.value))
            }
        }
        return .success(TokenAuthorization(routing: try await routing(token), atc: atc, arqc: arqc))
    }

    /// 9A (YYMMDD, BCD) within a day of `now` (UTC): nil when it is, the decline otherwise.
    static func checkTransactionDate(_ bcd: [UInt8], now: Date) -> TokenDecline? {
        // BCD digits, YYMMDD; a real calendar day; within a day of today (UTC). Day numbers
        // by arithmetic: Foundation's Calendar cost a per cent of the server's CPU here.
        let digits = bcd.flatMap { [Int($0 >> 4), Int($0 & 0x0F)] }
        guard bcd.count == 3, digits.allSatisfy({ $0 <= 9 }) else { return .format(field: 55, reason: "9A must be a date, YYMMDD") }
        let year = 2000 + digits[0] * 10 + digits[1], month = digits[2] * 10 + digits[3], day = digits[4] * 10 + digits[5]
        guard let date = Self.dayNumber(year: year, month: month, day: day) else { return .format(field: 55, reason: "9A must be a date, YYMMDD") }
        let today = Int((now.timeIntervalSince1970 / 86_400).rounded(.down))
        guard abs(date - today) <= 1 else { return .transactionDateOutOfRange(Hex.encode(bcd)) }
        return nil
    }

    /// Days since 1970-01-01 of a Gregorian date, nil when there is no such day.
    static func dayNumber(year: Int, month: Int, day: Int) -> Int? {
        guard (1...12).contains(month), day >= 1 else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day <= lengths[month - 1] else { return nil }
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public func issuerAuthenticationData(for authorization: TokenAuthorization, responseCode: [UInt8]) async throws -> [UInt8] {
        let sk = try await cardMasterKey(tokenID: authorization.routing.tokenID).sessionKey(atc: authorization.atc)
        return try sk.issuerAuthenticationData(arqc: authorization.arqc, responseCode: responseCode)
    }

    public func routing(forToken number: PAN) async throws -> TokenRouting? {
        guard let token = try await token(number: number) else { return nil }
        return try await routing(token)
    }

    public func digest(_ bytes: [UInt8], purpose: String) -> String {
        vault.fingerprint(secret: Hex.encode(bytes), purpose: purpose)
    }

    /// Seals what the network keeps of card data (a reversal it owes) under the vault's data key.
    public func seal(_ bytes: [UInt8], context: String) -> Data { vault.sealSecret(bytes, context: "network:" + context) }

    public func open(_ sealed: Data, context: String) throws -> [UInt8] { try vault.openSecret(sealed, context: "network:" + context) }

    func routing(_ token: Token) async throws -> TokenRouting {
        let (pan, card) = try await detokenize(token)
        return TokenRouting(tokenID: token.id, maskedToken: token.maskedNumber, issuerID: token.issuerID, pan: pan,
                            cardExpiry: card.expiry, maskedPAN: card.maskedPAN, cardID: card.id, issuerStatus: card.issuerStatus)
    }

    public func recordIssuerStatus(cardID: String, _ status: CardIssuerStatus?) async throws {
        try await store.setIssuerStatus(cardID: cardID, status)
        readCache.clear()
    }

    /// Verifies a token's ARQC (EMV Book 2 §8.1) under the session key of its ATC,
    /// re-derived here from the issuer master key: the keys never leave the token service.
    /// Only ATCs whose keys were delivered to the device can verify.
    func verifyCryptogram(token: Token, atc: ApplicationTransactionCounter, data: [UInt8], arqc: [UInt8]) async throws -> Bool {
        var delivered = token.nextATC
        if atc.value >= delivered {
            let generation = readCache.generation
            guard let fresh = try await store.token(id: token.id) else { return false }
            // Keys replenished (perhaps through another node) since this token was cached.
            readCache.put(fresh, now: now(), readIn: generation)
            delivered = fresh.nextATC
        }
        guard atc.value >= 1, atc.value < delivered else { return false }
        return try await cardMasterKey(token).sessionKey(atc: atc).verify(arqc, data: data)
    }

    private func cardMasterKey(tokenID: String) async throws -> CardMasterKey {
        if let key = cardMasterKeys.withLock({ $0[tokenID] }) { return key }
        guard let token = try await store.token(id: tokenID) else { throw ServiceError.notFound("token \(tokenID)") }
        return try await cardMasterKey(token)
    }

    private func cardMasterKey(_ token: Token) async throws -> CardMasterKey {
        if let key = cardMasterKeys.withLock({ $0[token.id] }) { return key }
        let key = try await issuerMasterKey(token.issuerID, profile: token.profile).cardMasterKey(pan: try tokenNumber(token))
        cardMasterKeys.withLock { keys in
            if keys.count >= Self.cardMasterKeysCapacity { keys.removeAll(keepingCapacity: true) }
            keys[token.id] = key
        }
        return key
    }
}
