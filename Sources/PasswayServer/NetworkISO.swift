import EMV
import Foundation
import ISO8583
import ISO8583Transport
import IssuerHost
import Logging
import NIOCore
import NetworkSwitch
import Synchronization
import TokenService

/// The network's issuer connections: one multiplexed ISO 8583 client per issuer host
/// endpoint. An issuer's endpoint comes from the configuration; issuers without one are
/// served by the bundled issuer host.
final class ISO8583IssuerLinks: IssuerLinks {
    let defaultEndpoint: (host: String, port: Int)
    let endpoints: [String: (host: String, port: Int)]
    let timeout: TimeAmount
    let connections: Int
    let logger: Logger
    let clients = Mutex<[String: ISO8583Client]>([:])

    init(defaultEndpoint: (host: String, port: Int), endpoints: [String: (host: String, port: Int)], timeout: TimeAmount, connections: Int, logger: Logger) {
        self.defaultEndpoint = defaultEndpoint; self.endpoints = endpoints; self.timeout = timeout
        self.connections = connections; self.logger = logger
    }

    func send(_ message: Message, to issuer: Issuer) async throws(IssuerLinkError) -> Message {
        let endpoint = endpoints[issuer.id] ?? defaultEndpoint
        let name = "\(endpoint.host):\(endpoint.port)"
        let client = clients.withLock { clients in
            if let c = clients[name] { return c }
            let c = ISO8583Client(host: endpoint.host, port: endpoint.port, connections: connections, timeout: timeout, logger: logger)
            clients[name] = c
            return c
        }
        do {
            return try await client.send(message)
        } catch {
            switch error {
            case .timedOut(let ms): throw .timedOut(milliseconds: ms)
            case .unavailable(let why), .encoding(let why): throw .unavailable(why)
            }
        }
    }

    func close() async {
        for client in clients.withLock({ Array($0.values) }) { await client.close() }
    }
}

/// The bundled issuer host's ISO 8583 side: the network's 0100/0200 are decided by the
/// bank that holds the card; 0800 echoes are answered.
enum IssuerHostISO {
    /// Which bank holds cards of a BIN (first eight digits), learnt as cards are found,
    /// so that an authorization asks one bank's database rather than each in turn.
    static let banksByBIN = Mutex<[Substring: String]>([:])

    /// The bank that holds the card, if any.
    static func bank(holding pan: String, registry: BankRegistry) async throws -> (id: String, bank: Bank)? {
        let bin = pan.prefix(8)
        if let id = banksByBIN.withLock({ $0[bin] }), let bank = try? await registry.bank(id), try await bank.holdsCard(pan) {
            return (id, bank)
        }
        for id in try await registry.ids() {
            let bank = try await registry.bank(id)
            guard try await bank.holdsCard(pan) else { continue }
            banksByBIN.withLock { $0[bin] = id }
            return (id, bank)
        }
        return nil
    }

    /// The decision of the bank that holds the card. The bank that held its BIN last time
    /// decides at once, without a lookup first; only when it does not know the card are
    /// the banks asked in turn. Nil when no bank holds it.
    static func authorize(_ request: AuthorizationRequest, registry: BankRegistry) async throws -> (bank: String, decision: AuthorizationDecision)? {
        if let id = banksByBIN.withLock({ $0[request.pan.prefix(8)] }), let bank = try? await registry.bank(id) {
            let decision = try await bank.authorize(request)
            if decision.responseCode != "14" { return (id, decision) }
        }
        guard let (id, bank) = try await bank(holding: request.pan, registry: registry) else { return nil }
        return (id, try await bank.authorize(request))
    }

    static func handle(_ m: Message, registry: BankRegistry, logger: Logger) async -> Message? {
        switch m.mti {
        case "0800":
            return IssuerMessages.answer(to: m, code: "00")
        case "0100", "0200":
            let request: AuthorizationRequest
            switch IssuerMessages.request(m) {
            case .failure(let problem):
                logger.notice("issuer host: format error", metadata: ["field": "\(problem.field)", "reason": "\(problem.reason)"])
                return IssuerMessages.answer(to: m, code: "30")
            case .success(let r): request = r
            }
            do {
                if let (id, decision) = try await authorize(request, registry: registry) {
                    logger.info("issuer host: authorization", metadata: [
                        "bank": "\(id)", "card": "\(PAN.mask(request.pan))", "amount": "\(request.amountMinor)", "rc": "\(decision.responseCode)",
                        "reason": "\(decision.reason)",
                    ])
                    return IssuerMessages.answer(to: m, code: decision.responseCode, approval: decision.approvalCode)
                }
                logger.notice("issuer host: no bank holds the card", metadata: ["card": "\(PAN.mask(request.pan))"])
                return IssuerMessages.answer(to: m, code: "14")
            } catch {
                logger.error("issuer host: authorization failed", metadata: ["error": "\(error)"])
                return IssuerMessages.answer(to: m, code: "96")
            }
        case "0400", "0420":
            guard let reference = IssuerMessages.reversedReference(m), let pan = m.string(2) else {
                logger.notice("issuer host: reversal without original data elements")
                return IssuerMessages.answer(to: m, code: "30")
            }
            do {
                if let (id, bank) = try await bank(holding: pan, registry: registry) {
                    // Idempotent: what was released stays released; answered 00 either way.
                    let released = try await bank.reverse(reference: reference)
                    logger.info("issuer host: reversal", metadata: ["bank": "\(id)", "card": "\(PAN.mask(pan))", "released": "\(released)"])
                    return IssuerMessages.answer(to: m, code: "00")
                }
                return IssuerMessages.answer(to: m, code: "14")
            } catch {
                logger.error("issuer host: reversal failed", metadata: ["error": "\(error)"])
                return IssuerMessages.answer(to: m, code: "96")
            }
        default:
            guard MessageType.isRequest(m.mti) else { return nil }
            return IssuerMessages.answer(to: m, code: "30")
        }
    }
}
