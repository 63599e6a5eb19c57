/// A key that authenticates ISO 8583 messages between two participants (field 64 or
/// 128), with the MAC algorithm that goes with it.
///
/// - `tdes`: ISO/IEC 9797-1 MAC algorithm 3 (the "retail MAC") with a double-length
///   TDES key and padding method 1, 8 bytes.
/// - `aes`: AES-CMAC (NIST SP 800-38B, ISO/IEC 9797-1 MAC algorithm 5) with an AES key,
///   its first 8 bytes (the AES profile).
public enum MACKey: Sendable, CustomStringConvertible {
    case tdes(TDESKey)
    case aes(AESKey)

    /// The 8-byte MAC of `data`.
    public func mac(_ data: [UInt8]) -> [UInt8] {
        switch self {
        case .tdes(let key): ISO9797.macAlgorithm3(key: key, data: data, padding: .method1)
        case .aes(let key): Array(key.cmac(data).prefix(8))
        }
    }

    /// The key from its algorithm letter as TR-31 names it (`T` TDES, `A` AES) and its
    /// bytes.
    public init(algorithm: Character, bytes: [UInt8]) throws(KeyError) {
        switch algorithm {
        case "T": self = .tdes(try TDESKey(bytes))
        case "A": self = .aes(try AESKey(bytes))
        default: throw .unknownAlgorithm(String(algorithm))
        }
    }

    /// `T` or `A`, as TR-31 header byte 8 names the algorithm.
    public var algorithm: Character {
        switch self {
        case .tdes: "T"
        case .aes: "A"
        }
    }

    public func exportKeyMaterial() -> [UInt8] {
        switch self {
        case .tdes(let key): key.exportKeyMaterial()
        case .aes(let key): key.exportKeyMaterial()
        }
    }

    public var checkValue: [UInt8] {
        switch self {
        case .tdes(let key): key.checkValue
        case .aes(let key): key.checkValue
        }
    }

    public var description: String {
        switch self {
        case .tdes(let key): "MACKey(ISO 9797-1 alg. 3, \(key))"
        case .aes(let key): "MACKey(AES-CMAC, \(key))"
        }
    }
}
