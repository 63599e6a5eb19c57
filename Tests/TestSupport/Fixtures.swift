import Foundation
import IssuerContract
import Participants
import Simulators
import Storage
import TokenService
import Vault
import WalletProvider

/// An issuer host that approves every ID&V at once (green) and takes every code and
/// notification: for tests of the token service and wallet provider without HTTP.
public struct GreenIssuer: IssuerHostClient {
    public init() {}
    public func authorize(_ request: IDVRequest, at host: IssuerHostEndpoint) async throws -> IDVDecision { IDVDecision(decision: .green) }
    public func deliverActivationCode(_ delivery: ActivationCodeDelivery, at host: IssuerHostEndpoint) async throws {}
    public func notifyTokenUpdated(_ n: TokenNotification, at host: IssuerHostEndpoint) async throws {}
}

/// The participants, token service and wallet provider on one store, without HTTP or
/// sockets, with a wallet (`wallet-1`) and an issuer (`bank`: cards 220070, tokens
/// 22017199, enabling `wallet-1`).
public struct ServiceRooms: Sendable {
    public let store: StoreUnderTest.Store
    public let participants: ParticipantRegistry
    public let tokens: TokenService
    public let wallets: WalletProvider

    public static let walletID = "wallet-1"
    public static let issuerID = "bank"

    /// The rooms on `store` (a second node's view of it when `onboard` is false: the
    /// wallet and issuer are already there).
    public static func open(_ store: StoreUnderTest.Store, master: MasterKey, issuerHost: any IssuerHostClient = GreenIssuer(),
                            noticePolicy: RetryPolicy = .standard, onboard: Bool = true,
                            marketBatch: Int = 2_000, now: @escaping @Sendable () -> Date = Date.init) async throws -> ServiceRooms {
        let participants = ParticipantRegistry(store: store)
        let tokens = TokenService(store: store, participants: participants, vault: try await TokenService.openVault(master: master, store: store),
                                  issuerHost: issuerHost, noticePolicy: noticePolicy, marketBatch: marketBatch, now: now)
        let wallets = WalletProvider(store: store, participants: participants, tokens: tokens, now: now)
        if onboard {
            try await participants.seedDefaults()
            try await wallets.seedDefaults()
            try await participants.createWallet(Wallet(id: walletID, name: "W", tokenRequestorID: "40010075001"))
            let issuer = Issuer(id: issuerID, name: "Bank", country: "RU", currency: "RUB", cardRanges: ["220070"], tokenRanges: ["22017199"],
                                enabledWallets: [walletID], hostURL: "http://127.0.0.1:1", hostKey: RequestSignature.hex(RequestSignature.newKey()))
            try await participants.onboardIssuer(issuer)
            try await tokens.prepareIssuer(issuer)
        }
        return ServiceRooms(store: store, participants: participants, tokens: tokens, wallets: wallets)
    }

    /// A phone registered with `wallet-1`.
    public func phone(country: String = "RU") async throws -> DeviceWallet {
        var phone = DeviceWallet(modelID: "samsung-galaxy-s24", osVersion: "14", country: country)
        phone.deviceID = try await wallets.registerDevice(walletID: Self.walletID, modelID: phone.modelID, osVersion: "14", country: country,
                                                          publicKey: try phone.publicKey).id
        return phone
    }

    /// A phone registered with `wallet-1` and the card enrolled on it.
    public func enroll(_ pan: String) async throws -> (phone: DeviceWallet, outcome: TokenService.TokenRequestOutcome) {
        let phone = try await phone()
        let outcome = try await wallets.enroll(walletID: Self.walletID, .init(deviceID: phone.deviceID ?? "", pan: pan, expiry: "12/29",
                                                                             cvv2: nil, riskScore: 0))
        return (phone, outcome)
    }
}

/// `ServiceRooms` on a SQLite file of its own, removed by `remove()`.
public struct SQLiteRooms: Sendable {
    public let rooms: ServiceRooms
    public let path: String

    public static func make(issuerHost: any IssuerHostClient = GreenIssuer(), marketBatch: Int = 2_000,
                            now: @escaping @Sendable () -> Date = Date.init) async throws -> SQLiteRooms {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rooms-\(UUID().uuidString).sqlite").path
        return SQLiteRooms(rooms: try await ServiceRooms.open(try SQLiteStore(path: path), master: MasterKey.generate(), issuerHost: issuerHost,
                                                              marketBatch: marketBatch, now: now),
                           path: path)
    }

    public func remove() {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}
