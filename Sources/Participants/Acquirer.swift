/// An acquirer: a merchant bank whose terminals send authorizations to the network. Its
/// acquiring institution identification code is what it writes in field 32 (ISO 8583:1987,
/// n..11) of every message.
public struct Acquirer: Codable, Sendable, Equatable {
    /// Its JSON, as the API takes and shows it (`POST /v1/acquirers`).
    public enum CodingKeys: String, CodingKey, CaseIterable { case id, name, country, institutionID, limits }
    public var id: String
    public var name: String
    /// ISO 3166-1 alpha-2.
    public var country: String
    /// Field 32: 1 to 11 digits.
    public var institutionID: String
    public var limits: Limits

    /// What one acquirer may take of a node's network port, so that no acquirer can take
    /// it all. Each node counts its own.
    public struct Limits: Codable, Sendable, Equatable {
        /// Connections signed on as this acquirer at once (1 to 1,024; 16 unless said).
        public var connections: Int
        /// Its messages being worked on at once (1 to 65,536; 1,024 unless said); more are
        /// answered 96 at once.
        public var inFlight: Int

        public static let standard = Limits(connections: 16, inFlight: 1024)
        public static let connectionsRange = 1...1024
        public static let inFlightRange = 1...65_536

        public init(connections: Int, inFlight: Int) { self.connections = connections; self.inFlight = inFlight }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            connections = try c.decodeIfPresent(Int.self, forKey: .connections) ?? Self.standard.connections
            inFlight = try c.decodeIfPresent(Int.self, forKey: .inFlight) ?? Self.standard.inFlight
        }
    }

    public init(id: String, name: String, country: String, institutionID: String, limits: Limits = .standard) {
        self.id = id; self.name = name; self.country = country; self.institutionID = institutionID; self.limits = limits
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decode(String.self, forKey: .name)
        country = try c.decode(String.self, forKey: .country)
        institutionID = try c.decode(String.self, forKey: .institutionID)
        limits = try c.decodeIfPresent(Limits.self, forKey: .limits) ?? .standard
    }
}
