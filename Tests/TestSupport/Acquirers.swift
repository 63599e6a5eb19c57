import Foundation
import ISO8583Transport
import Logging
import Simulators

/// An acquirer as the tests use it: onboarded through the API by the operator, its MAC
/// key delivered as a TR-31 block and opened with its zone master key, ready to sign on.
public struct TestAcquirer: Sendable {
    public let id: String
    public let apiKey: String
    public let zoneMasterKey: String
    public let signOn: ISO8583Client.SignOn
    public var institutionID: String { signOn.institutionID }

    /// Onboards `id` with field 32 code `institutionID` and issues its MAC key
    /// (`algorithm` tdes or aes).
    public static func onboard(api: String, operatorKey: String, id: String = "gum-acquirer", institutionID: String = "25000001",
                               algorithm: String = "tdes", limits: [String: Int]? = nil) async throws -> TestAcquirer {
        var body: [String: Any] = ["id": id, "name": "Moscow Merchant Bank", "country": "RU", "institutionID": institutionID]
        if let limits { body["limits"] = limits }
        let created = try await PlatformHarness.call("POST", api + "/v1/acquirers", key: operatorKey, json: body, raw: nil, headers: [:])
        guard created.status == 201, let zmk = created.string("zoneMasterKey"), let apiKey = created.string("apiKey") else {
            throw RussianBankScenario.SetupFailed(description: "acquirer: \(created.status) \(created.json)")
        }
        let delivered = try await PlatformHarness.call("POST", api + "/v1/acquirers/\(id)/mac-key", key: apiKey, json: ["algorithm": algorithm],
                                                       raw: nil, headers: [:])
        guard delivered.status == 201, let block = delivered.string("keyBlock") else {
            throw RussianBankScenario.SetupFailed(description: "MAC key: \(delivered.status) \(delivered.json)")
        }
        return TestAcquirer(id: id, apiKey: apiKey, zoneMasterKey: zmk,
                            signOn: try ISO8583Client.SignOn(institutionID: institutionID, zoneMasterKey: zmk, keyBlock: block))
    }

    public static func onboard(_ harness: PlatformHarness, id: String = "gum-acquirer", institutionID: String = "25000001",
                               algorithm: String = "tdes", limits: [String: Int]? = nil) async throws -> TestAcquirer {
        try await onboard(api: harness.info.apiURL, operatorKey: harness.info.operatorKey, id: id, institutionID: institutionID,
                          algorithm: algorithm, limits: limits)
    }

    /// A client of the network's port that signs on as this acquirer and MACs its messages.
    public func client(host: String, port: Int, connections: Int = 2, timeout: Duration = .seconds(5), logger: Logger = TestAcquirer.quiet) -> ISO8583Client {
        ISO8583Client(host: host, port: port, connections: connections, timeout: timeout, connectTimeout: timeout, signOn: signOn, logger: logger)
    }

    public func client(_ harness: PlatformHarness, connections: Int = 2, timeout: Duration = .seconds(5)) -> ISO8583Client {
        client(host: harness.info.networkHost, port: harness.info.networkPort, connections: connections, timeout: timeout)
    }

    public static let quiet = Logger(label: "acquirer", factory: { _ in SwiftLogNoOpLogHandler() })
}
