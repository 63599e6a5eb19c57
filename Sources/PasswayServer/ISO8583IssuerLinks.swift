import ISO8583
import ISO8583Transport
import Logging
import NetworkSwitch
import Participants
import Synchronization

/// The network's issuer connections: one multiplexed ISO 8583 client per issuer host
/// endpoint. An issuer's endpoint comes from the configuration; issuers without one are
/// served by the default one (the bundled issuer host, or the one `--issuer-host` names).
final class ISO8583IssuerLinks: IssuerLinks {
    let defaultEndpoint: (host: String, port: Int)
    let endpoints: [String: (host: String, port: Int)]
    let timeout: Duration
    let connections: Int
    let logger: Logger
    let clients = Mutex<[String: ISO8583Client]>([:])

    init(defaultEndpoint: (host: String, port: Int), endpoints: [String: (host: String, port: Int)], timeout: Duration, connections: Int, logger: Logger) {
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
            case .timedOut(let limit): throw .timedOut(after: limit)
            case .unavailable(let why), .encoding(let why), .unauthentic(let why): throw .unavailable(why)
            case .signOnRefused(let code): throw .unavailable("sign-on refused with \(code)")
            }
        }
    }

    func close() async {
        for client in clients.withLock({ Array($0.values) }) { await client.close() }
    }
}
