import EMV
import ISO8583
import ISO8583Transport
import NIOSSL
import Logging
import NetworkSwitch
import Participants
import Synchronization

/// The network's issuer connections: one multiplexed ISO 8583 client per issuer host
/// endpoint. An issuer's endpoint comes from the configuration; issuers without one are
/// served by the default one (the bundled issuer host, or the one `--issuer-host` names).
/// With a link key, each connection signs on under it and every message and answer is
/// MAC'd (ISO 9797-1 MAC algorithm 3), as the bundled host requires.
final class ISO8583IssuerLinks: IssuerLinks {
    let defaultEndpoint: (host: String, port: Int)
    let defaultLinkKey: MACKey?
    let endpoints: [String: (host: String, port: Int)]
    let linkKeys: [String: MACKey]
    /// TLS to every issuer host, when set.
    let tls: NIOSSLContext?
    let timeout: Duration
    let connections: Int
    let logger: Logger
    let clients = Mutex<[String: ISO8583Client]>([:])

    /// The network's institution code in its sign-on to an issuer host (field 32).
    static let networkInstitutionID = "99000001"
    /// After a failed connection attempt to an issuer host, the next is 200 ms later,
    /// doubling to 5 s; authorizations meanwhile get 91 at once, not a connect each.
    static let reconnect: ClosedRange<Duration> = .milliseconds(200) ... .seconds(5)

    init(defaultEndpoint: (host: String, port: Int), defaultLinkKey: MACKey?, endpoints: [String: (host: String, port: Int)],
         linkKeys: [String: MACKey], tls: NIOSSLContext?, timeout: Duration, connections: Int, logger: Logger) {
        self.defaultEndpoint = defaultEndpoint; self.defaultLinkKey = defaultLinkKey; self.endpoints = endpoints; self.linkKeys = linkKeys
        self.tls = tls
        self.timeout = timeout
        self.connections = connections; self.logger = logger
    }

    func send(_ message: Message, to issuer: Issuer) async throws(IssuerLinkError) -> Message {
        let endpoint = endpoints[issuer.id] ?? defaultEndpoint
        let key = endpoints[issuer.id] == nil ? defaultLinkKey : linkKeys[issuer.id]
        let name = "\(endpoint.host):\(endpoint.port)/" + (key.map { Hex.encode($0.checkValue) } ?? "-")
        let client = clients.withLock { clients in
            if let c = clients[name] { return c }
            let c = ISO8583Client(host: endpoint.host, port: endpoint.port, connections: connections, timeout: timeout,
                                  signOn: key.map { .init(institutionID: Self.networkInstitutionID, key: $0) }, tls: tls,
                                  reconnect: Self.reconnect, logger: logger)
            clients[name] = c
            return c
        }
        do {
            return try await client.send(message)
        } catch {
            switch error {
            case .timedOut(let limit): throw .timedOut(after: limit)
            case .unavailable(let why), .encoding(let why): throw .unavailable(why)
            case .lost(let why): throw .lost(why)
            case .unauthentic(let why): throw .unauthentic(why)
            case .signOnRefused(let code): throw .unavailable("sign-on refused with \(code)")
            }
        }
    }

    /// Every issuer host endpoint the network has used since it started, and its state.
    func states() -> [ISO8583Client.LinkState] {
        clients.withLock { Array($0.values) }.map(\.state).sorted { ($0.host, $0.port) < ($1.host, $1.port) }
    }

    func close() async {
        for client in clients.withLock({ Array($0.values) }) { await client.close() }
    }
}
