import EMV
import ISO8583
import Logging
import Synchronization

/// The bank's ISO 8583 door towards the network: only a connection that signed on with
/// the link's MAC key is served, every request must carry a MAC under it, and every
/// answer carries the bank's.
///
/// The link key is one double-length TDES key shared by the issuer host and the network
/// (`issuer-host-link.key`, exchanged out of band and compared by check value); the MAC
/// is ISO 9797-1 MAC algorithm 3 in field 64, or 128 with a secondary bitmap, as on the
/// acquirer port (`MessageAuthentication`).
///
/// - sign-on (0800, field 70 `001`) whose MAC verifies: `00`, MAC'd, and the connection is
///   served until it closes or signs off (`002`); otherwise `63`, not MAC'd;
/// - a request on a connection that has not signed on, or whose MAC is missing or does
///   not verify: `63`, and the bank decides nothing, holds nothing, releases nothing;
/// - an echo (`301`): `00` on any connection.
public final class NetworkLinkGate: Sendable {
    let key: MACKey
    let handler: IssuerHostHandler
    let logger: Logger
    let codec = ISO8583Codec()

    /// One connection from the network.
    public final class Session: Sendable {
        public let peer: String
        let signedOn = Atomic<Bool>(false)
        public init(peer: String) { self.peer = peer }
    }

    public init(key: MACKey, handler: IssuerHostHandler, logger: Logger) {
        self.key = key; self.handler = handler; self.logger = logger
    }

    public func handle(_ message: Message, frame: [UInt8], session: Session) async -> Message? {
        let signedOn = session.signedOn.load(ordering: .acquiring)
        if MessageType.original(of: message.mti) == "0800" {
            let answer = IssuerMessages.answer(to: message, .approved)
            let code = message.string(70)
            if code == "301", !signedOn { return answer }
            guard code == "001" || code == "002" || code == "301" else { return IssuerMessages.answer(to: message, .formatError) }
            do { try MessageAuthentication.verify(frame: frame, message: message, key: key) } catch {
                return refuse(message, "network management \(code ?? "-"): \(error)", session: session, sealed: signedOn)
            }
            if code == "001" {
                session.signedOn.store(true, ordering: .releasing)
                logger.info("network signed on", metadata: ["peer": "\(session.peer)"])
            } else if code == "002" {
                session.signedOn.store(false, ordering: .releasing)
            }
            return seal(answer)
        }
        guard MessageType.isRequest(message.mti) else { return await handler.handle(message) }
        guard signedOn else { return refuse(message, "not signed on", session: session, sealed: false) }
        do { try MessageAuthentication.verify(frame: frame, message: message, key: key) } catch {
            return refuse(message, "\(error)", session: session, sealed: true)
        }
        var request = message
        request[64] = nil
        request[128] = nil
        guard let answer = await handler.handle(request) else { return nil }
        return seal(answer)
    }

    func refuse(_ message: Message, _ why: String, session: Session, sealed: Bool) -> Message {
        logger.notice("refused at the bank's ISO 8583 port: \(why)", metadata: ["mti": "\(message.mti)", "stan": "\(message.string(11) ?? "-")",
                                                                              "peer": "\(session.peer)"])
        let answer = IssuerMessages.answer(to: message, .securityViolation)
        return sealed ? seal(answer) : answer
    }

    func seal(_ answer: Message) -> Message {
        (try? MessageAuthentication.seal(answer, key: key, codec: codec).message) ?? answer
    }
}
