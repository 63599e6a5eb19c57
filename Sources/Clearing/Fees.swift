import Foundation
import Participants

/// A card's product, for the interchange table.
public enum CardProduct: String, Codable, Sendable, CaseIterable { case debit, credit, prepaid }

/// One line of the interchange table: the rate (basis points of the cleared amount) for
/// the issuer's market, the card product and the merchant category group; `*` matches any.
public struct InterchangeRate: Codable, Sendable, Equatable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case market, product, group, basisPoints }
    /// ISO 3166 alpha-2 of the issuer's market, or `*`.
    public var market: String
    /// `debit`, `credit`, `prepaid` or `*`.
    public var product: String
    /// A `MerchantCategoryGroup` (everyday, fuel, transport, travel, retail, cash, other) or `*`.
    public var group: String
    /// 0…10,000 (100 = 1%).
    public var basisPoints: Int

    public init(market: String, product: String, group: String, basisPoints: Int) {
        self.market = market; self.product = product; self.group = group; self.basisPoints = basisPoints
    }

    /// An unknown field is an error: a misspelt key must not become a silent `*`.
    public init(from decoder: any Decoder) throws {
        try StrictFields.reject(decoder, allowing: CodingKeys.allCases.map(\.stringValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(market: try c.decode(String.self, forKey: .market), product: try c.decode(String.self, forKey: .product),
                  group: try c.decode(String.self, forKey: .group), basisPoints: try c.decode(Int.self, forKey: .basisPoints))
    }

    /// How many of the three keys are named (not `*`): the most specific line applies.
    var specificity: Int { [market, product, group].filter { $0 != "*" }.count }

    func matches(market m: String, product p: CardProduct, group g: MerchantCategoryGroup) -> Bool {
        (market == "*" || market == m) && (product == "*" || product == p.rawValue) && (group == "*" || group == g.rawValue)
    }
}

/// The network's fees: the interchange table (paid by the acquirer to the issuer on a
/// purchase, by the issuer to the acquirer on cash) and the scheme fee each side pays the
/// network, all in integer minor units of the cleared currency, rounded half up.
public struct FeeSchedule: Codable, Sendable, Equatable {
    public enum CodingKeys: String, CodingKey, CaseIterable { case interchange, schemeFeeBasisPoints }
    public var interchange: [InterchangeRate]
    /// Charged to the acquirer and to the issuer each, in basis points of the amount.
    public var schemeFeeBasisPoints: Int

    public static let standard = FeeSchedule(interchange: [
        InterchangeRate(market: "*", product: "*", group: "*", basisPoints: 120),
        InterchangeRate(market: "*", product: "debit", group: "everyday", basisPoints: 80),
        InterchangeRate(market: "*", product: "credit", group: "*", basisPoints: 160),
        InterchangeRate(market: "*", product: "*", group: "cash", basisPoints: 50),
    ], schemeFeeBasisPoints: 5)

    public init(interchange: [InterchangeRate], schemeFeeBasisPoints: Int) {
        self.interchange = interchange; self.schemeFeeBasisPoints = schemeFeeBasisPoints
    }

    public enum Invalid: Error, Equatable, CustomStringConvertible {
        case line(Int, String)
        case noDefault
        case schemeFee

        public var description: String {
            switch self {
            case .line(let i, let why): "interchange[\(i)]: \(why)"
            case .noDefault: "the interchange table needs a line for * / * / * (the default)"
            case .schemeFee: "schemeFeeBasisPoints must be 0…10,000"
            }
        }
    }

    /// A table the operator may set: every line valid, keys named once, a default line.
    public func validate() throws(Invalid) {
        guard (0...10_000).contains(schemeFeeBasisPoints) else { throw .schemeFee }
        var seen = Set<String>()
        for (i, line) in interchange.enumerated() {
            guard line.market == "*" || (line.market.utf8.count == 2 && line.market.utf8.allSatisfy { (0x41...0x5A).contains($0) }) else {
                throw .line(i, "market must be * or two capital letters")
            }
            guard line.product == "*" || CardProduct(rawValue: line.product) != nil else { throw .line(i, "product must be *, debit, credit or prepaid") }
            guard line.group == "*" || MerchantCategoryGroup(rawValue: line.group) != nil else {
                throw .line(i, "group must be * or one of " + MerchantCategoryGroup.allCases.map(\.rawValue).joined(separator: ", "))
            }
            guard (0...10_000).contains(line.basisPoints) else { throw .line(i, "basisPoints must be 0…10,000") }
            guard seen.insert("\(line.market)/\(line.product)/\(line.group)").inserted else { throw .line(i, "the same market, product and group twice") }
        }
        guard seen.contains("*/*/*") else { throw .noDefault }
    }

    /// The line that applies: the most specific; among equally specific ones, the first.
    public func rate(market: String, product: CardProduct, group: MerchantCategoryGroup) -> InterchangeRate? {
        var best: InterchangeRate?
        for line in interchange where line.matches(market: market, product: product, group: group) {
            if let b = best, line.specificity <= b.specificity { continue }
            best = line
        }
        return best
    }

    /// `amountMinor` × `basisPoints` / 10,000, rounded half up (amounts are at most 12
    /// digits, so no overflow).
    public static func share(_ amountMinor: Int64, basisPoints: Int) -> Int64 {
        let n = Int128(amountMinor) * Int128(basisPoints)
        return Int64((2 * n + 10_000) / 20_000)
    }
}
