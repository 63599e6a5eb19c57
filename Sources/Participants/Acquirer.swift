/// An acquirer: a merchant bank whose terminals send authorizations to the network. Its
/// acquiring institution identification code is what it writes in field 32 (ISO 8583:1987,
/// n..11) of every message.
public struct Acquirer: Codable, Sendable, Equatable {
    /// Its JSON, as the API takes and shows it (`POST /v1/acquirers`).
    public enum CodingKeys: String, CodingKey, CaseIterable { case id, name, country, institutionID }
    public var id: String
    public var name: String
    /// ISO 3166-1 alpha-2.
    public var country: String
    /// Field 32: 1 to 11 digits.
    public var institutionID: String

    public init(id: String, name: String, country: String, institutionID: String) {
        self.id = id; self.name = name; self.country = country; self.institutionID = institutionID
    }
}
