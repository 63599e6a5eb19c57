import Foundation

/// An issuer's rules for the network to decide on its behalf while its host is
/// unavailable (no connection, or no answer within the time limit): stand-in processing.
/// Without rules the network answers 91 and decides nothing. Each stand-in approval is
/// told to the issuer afterwards as an advice (0120).
public struct StandInRules: Codable, Sendable, Equatable {
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case perTransactionLimitMinor, dailyCountPerToken, dailyAmountPerTokenMinor, processingCodes, merchantCategoryGroups, updatedAt, updatedBy
    }
    /// Per transaction currency (ISO 4217 alpha-3), the largest amount stood in for, in
    /// that currency's minor units; a currency not named is not stood in for.
    public var perTransactionLimitMinor: [String: Int64]
    /// Stand-in approvals per token per UTC day.
    public var dailyCountPerToken: Int
    /// What a token's stand-in approvals may add up to per UTC day, in the issuer's billing
    /// currency's minor units (the converted amount when the transaction was in another).
    public var dailyAmountPerTokenMinor: Int64
    /// The transaction types (first two digits of field 3) stood in for: `00` goods and
    /// services, `01` cash.
    public var processingCodes: [String]
    /// The merchant category groups (field 18, `MerchantCategoryGroup`) stood in for.
    public var merchantCategoryGroups: [String]
    /// Set by the network when the rules are written: when, and by whom.
    public var updatedAt: Date?
    public var updatedBy: String?

    public init(perTransactionLimitMinor: [String: Int64], dailyCountPerToken: Int, dailyAmountPerTokenMinor: Int64,
                processingCodes: [String], merchantCategoryGroups: [String]) {
        self.perTransactionLimitMinor = perTransactionLimitMinor; self.dailyCountPerToken = dailyCountPerToken
        self.dailyAmountPerTokenMinor = dailyAmountPerTokenMinor; self.processingCodes = processingCodes
        self.merchantCategoryGroups = merchantCategoryGroups
    }

    public static let processingCodesTaken: Set<String> = ["00", "01"]
    public static let countRange = 0...1_000
    public static let amountRange: ClosedRange<Int64> = 0...999_999_999_999

    /// Every field, each in its range, and no unknown one; `updatedAt`/`updatedBy` are the network's to set.
    public func validated() throws -> StandInRules {
        guard perTransactionLimitMinor.count <= 50 else { throw ServiceError.invalid(field: "perTransactionLimitMinor", reason: "at most 50 currencies") }
        for (currency, limit) in perTransactionLimitMinor {
            try Validate.currency(currency, field: "perTransactionLimitMinor")
            guard Self.amountRange.contains(limit) else {
                throw ServiceError.invalid(field: "perTransactionLimitMinor.\(currency)", reason: "0 to 999999999999 minor units")
            }
        }
        guard Self.countRange.contains(dailyCountPerToken) else { throw ServiceError.invalid(field: "dailyCountPerToken", reason: "0 to 1000") }
        guard Self.amountRange.contains(dailyAmountPerTokenMinor) else {
            throw ServiceError.invalid(field: "dailyAmountPerTokenMinor", reason: "0 to 999999999999 minor units")
        }
        guard processingCodes.count <= 10, processingCodes.allSatisfy(Self.processingCodesTaken.contains) else {
            throw ServiceError.invalid(field: "processingCodes", reason: "00 (goods and services) and/or 01 (cash)")
        }
        guard merchantCategoryGroups.count <= 20, merchantCategoryGroups.allSatisfy({ MerchantCategoryGroup(rawValue: $0) != nil }) else {
            throw ServiceError.invalid(field: "merchantCategoryGroups",
                                       reason: MerchantCategoryGroup.allCases.map(\.rawValue).joined(separator: ", "))
        }
        var rules = self
        rules.processingCodes = Array(Set(processingCodes)).sorted()
        rules.merchantCategoryGroups = Array(Set(merchantCategoryGroups)).sorted()
        return rules
    }

    /// The rules' fields and no other: a misspelt rule must not pass as absent.
    public init(from decoder: any Decoder) throws {
        try StrictFields.reject(decoder, allowing: CodingKeys.allCases.map(\.stringValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(perTransactionLimitMinor: try c.decode([String: Int64].self, forKey: .perTransactionLimitMinor),
                  dailyCountPerToken: try c.decode(Int.self, forKey: .dailyCountPerToken),
                  dailyAmountPerTokenMinor: try c.decode(Int64.self, forKey: .dailyAmountPerTokenMinor),
                  processingCodes: try c.decode([String].self, forKey: .processingCodes),
                  merchantCategoryGroups: try c.decode([String].self, forKey: .merchantCategoryGroups))
        updatedAt = try c.decodeIfPresent(Date.self, forKey: .updatedAt)
        updatedBy = try c.decodeIfPresent(String.self, forKey: .updatedBy)
    }
}

/// Merchant category codes (field 18, ISO 18245) in the groups stand-in rules name.
public enum MerchantCategoryGroup: String, CaseIterable, Sendable {
    /// Groceries, pharmacies, restaurants and fast food, department and convenience stores.
    case everyday
    /// Fuel and service stations (5541, 5542, 5983).
    case fuel
    /// Public transport, taxis, tolls and parking (4111, 4112, 4121, 4131, 4784, 7523).
    case transport
    /// Airlines, car rental and lodging (3000 to 3999, 4511, 4722, 7011, 7512).
    case travel
    /// Every other shop (5000 to 5999 not above).
    case retail
    /// Cash at ATMs and counters (6010, 6011).
    case cash
    /// Everything else, and a message without field 18.
    case other

    static let everydayCodes: Set<Int> = [5411, 5412, 5422, 5441, 5451, 5462, 5499, 5812, 5813, 5814, 5912, 5311, 5331, 5399]

    public static func of(_ mcc: String?) -> MerchantCategoryGroup {
        guard let mcc, mcc.count == 4, let code = Int(mcc) else { return .other }
        switch code {
        case _ where everydayCodes.contains(code): return .everyday
        case 5541, 5542, 5983: return .fuel
        case 4111, 4112, 4121, 4131, 4784, 7523: return .transport
        case 3000...3999, 4511, 4722, 7011, 7512: return .travel
        case 6010, 6011: return .cash
        case 5000...5999: return .retail
        default: return .other
        }
    }
}
