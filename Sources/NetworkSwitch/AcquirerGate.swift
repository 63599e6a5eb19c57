import EMV
import ISO8583
import Logging
import Participants
import Synchronization
import TokenService

/// Where the network finds the acquirer behind a field 32 code, and its MAC key.
public protocol AcquirerDirectory: Sendable {
    func acquirer(institutionID: String) async throws -> Acquirer?
    func macKey(acquirerID: String) async throws -> MACKey?
}

/// The acquirers onboarded through the API and their keys in the vault.
public struct RegisteredAcquirers: AcquirerDirectory {
    let participants: ParticipantRegistry
    let keys: AcquirerKeys
    public init(participants: ParticipantRegistry, keys: AcquirerKeys) { self.participants = participants; self.keys = keys }
    public func acquirer(institutionID: String) async throws -> Acquirer? { try await participants.acquirer(institutionID: institutionID) }
    public func macKey(acquirerID: String) async throws -> MACKey? { try await keys.macKey(acquirerID: acquirerID) }
}

/// One connection to the network's port, and the acquirer it signed on as.
public final class AcquirerSession: Sendable {
    public let peer: String
    struct Binding: Sendable {
        let acquirer: Acquirer
        let key: MACKey
        let usage: AcquirerGate.Usage
    }
    let binding = Mutex<Binding?>(nil)

    public init(peer: String) { self.peer = peer }

    /// The acquirer's id, once signed on.
    public var acquirerID: String? { binding.withLock { $0?.acquirer.id } }
}

/// The door of the network's acquirer port (DESIGN.md "Trust"): nothing reaches the
/// authorization pipeline from a connection that has not signed on as an onboarded
/// acquirer, and every financial message proves with its MAC that it comes from that
/// acquirer.
///
/// - **Sign-on** (0800, field 70 `001`): field 32 names an onboarded acquirer that has a
///   MAC key, and the message's MAC verifies under that key. The connection is then bound
///   to that acquirer until it closes or signs off (`002`). A sign-on that fails is
///   answered 63 (security violation) without a MAC; one past the acquirer's connection
///   limit 65. An echo (`301`) is answered 00 on any connection.
/// - **Every request** (0100, 0200, 0400, 0420 and their repeats) on a bound connection:
///   field 32 must be the bound acquirer's, and the MAC in field 64 (field 128 when the
///   secondary bitmap is present) must verify under its key (ISO 9797-1 MAC algorithm 3 or
///   AES-CMAC; `MessageAuthentication`). Otherwise 63, and nothing is decided, journaled
///   or sent to an issuer. On a connection that has not signed on: 63.
/// - **The acquirer's share**: at most `limits.inFlight` of its messages being worked on
///   at once (more: 96 at once), at most `limits.connections` connections.
/// - **Answers** on a bound connection carry the network's MAC under the same key.
public final class AcquirerGate: Sendable {
    let directory: any AcquirerDirectory
    let pipeline: AuthorizationPipeline
    let logger: Logger
    let codec = ISO8583Codec()
    /// Per acquirer (by id), its connections and messages in flight on this node.
    let usages = Mutex<[String: Usage]>([:])

    final class Usage: Sendable {
        let connections = Atomic<Int>(0)
        let inFlight = Atomic<Int>(0)
    }

    public init(directory: any AcquirerDirectory, pipeline: AuthorizationPipeline, logger: Logger) {
        self.directory = directory; self.pipeline = pipeline; self.logger = logger
    }

    /// A connection opened.
    public func opened(peer: String) -> AcquirerSession { AcquirerSession(peer: peer) }

    /// A connection closed: its acquirer's connection is counted no more.
    public func closed(_ session: AcquirerSession) {
        let old = session.binding.withLock { b in defer { b = nil }; return b }
        old?.usage.connections.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Connections and messages in flight of an acquirer on this node.
    public func usage(acquirerID: String) -> (connections: Int, inFlight: Int) {
        guard let u = usages.withLock({ $0[acquirerID] }) else { return (0, 0) }
        return (u.connections.load(ordering: .relaxed), u.inFlight.load(ordering: .relaxed))
    }

    /// The answer to one message from a connection, `frame` its bytes as received.
    public func handle(_ message: Message, frame: [UInt8], session: AcquirerSession) async -> Message? {
        // Only network management is parsed here; the pipeline parses the rest once.
        if MessageType.original(of: message.mti) == "0800",
           case .success(.networkManagement(let request)) = NetworkRequest.parse(message) {
            return await manage(request, frame: frame, session: session)
        }
        guard MessageType.isRequest(message.mti) else {
            // An answer or acknowledgement: the pipeline logs it and answers nothing.
            return await pipeline.handle(message)
        }
        guard let bound = session.binding.withLock({ $0 }) else {
            return refuse(message, "not signed on", session: session, key: nil)
        }
        guard message.string(32) == bound.acquirer.institutionID else {
            return refuse(message, "field 32 is not the institution code the connection signed on with", session: session, key: bound.key)
        }
        do {
            try MessageAuthentication.verify(frame: frame, message: message, key: bound.key)
        } catch {
            return refuse(message, "\(error)", session: session, key: bound.key)
        }
        let (_, inFlight) = bound.usage.inFlight.wrappingAdd(1, ordering: .relaxed)
        defer { bound.usage.inFlight.wrappingSubtract(1, ordering: .relaxed) }
        guard inFlight <= bound.acquirer.limits.inFlight else {
            logger.warning("acquirer over its in-flight limit: answered at once",
                           metadata: ["acquirer": "\(bound.acquirer.id)", "limit": "\(bound.acquirer.limits.inFlight)"])
            return seal(AuthorizationPipeline.answer(to: message, .systemMalfunction), key: bound.key)
        }
        // The MAC proved the sender; the pipeline sees the message without it (a repeat and
        // its original, whose MACs differ with their MTIs, are the same message to it).
        var request = message
        request[64] = nil
        request[128] = nil
        guard let answer = await pipeline.handle(request) else { return nil }
        return seal(answer, key: bound.key)
    }

    func manage(_ request: NetworkManagementRequest, frame: [UInt8], session: AcquirerSession) async -> Message? {
        let message = request.message
        let bound = session.binding.withLock { $0 }
        switch request.code {
        case .echo:
            guard let bound else { return AuthorizationPipeline.answer(to: message, .approved) }
            do { try MessageAuthentication.verify(frame: frame, message: message, key: bound.key) } catch {
                return refuse(message, "echo: \(error)", session: session, key: bound.key)
            }
            return seal(AuthorizationPipeline.answer(to: message, .approved), key: bound.key)
        case .signOff:
            guard let bound else { return AuthorizationPipeline.answer(to: message, .approved) }
            do { try MessageAuthentication.verify(frame: frame, message: message, key: bound.key) } catch {
                return refuse(message, "sign-off: \(error)", session: session, key: bound.key)
            }
            closed(session)
            logger.info("acquirer signed off", metadata: ["acquirer": "\(bound.acquirer.id)", "peer": "\(session.peer)"])
            return seal(AuthorizationPipeline.answer(to: message, .approved), key: bound.key)
        case .signOn:
            return await signOn(message, frame: frame, session: session)
        }
    }

    func signOn(_ message: Message, frame: [UInt8], session: AcquirerSession) async -> Message {
        guard let institution = message.string(32) else { return refuse(message, "sign-on without field 32", session: session, key: nil) }
        let acquirer: Acquirer?
        let key: MACKey?
        do {
            acquirer = try await directory.acquirer(institutionID: institution)
            key = if let acquirer { try await directory.macKey(acquirerID: acquirer.id) } else { nil }
        } catch {
            logger.error("sign-on: the acquirer could not be read", metadata: ["error": "\(error)"])
            return AuthorizationPipeline.answer(to: message, .systemMalfunction)
        }
        guard let acquirer else { return refuse(message, "sign-on: no acquirer has institution code \(institution)", session: session, key: nil) }
        guard let key else { return refuse(message, "sign-on: acquirer \(acquirer.id) has no MAC key yet", session: session, key: nil) }
        do { try MessageAuthentication.verify(frame: frame, message: message, key: key) } catch {
            return refuse(message, "sign-on as \(acquirer.id): \(error)", session: session, key: nil)
        }
        let usage = usages.withLock { u in
            if let existing = u[acquirer.id] { return existing }
            let made = Usage()
            u[acquirer.id] = made
            return made
        }
        let already = session.binding.withLock { $0?.acquirer.id == acquirer.id }
        if !already {
            let (_, count) = usage.connections.wrappingAdd(1, ordering: .relaxed)
            guard count <= acquirer.limits.connections else {
                usage.connections.wrappingSubtract(1, ordering: .relaxed)
                logger.warning("sign-on refused: acquirer at its connection limit",
                               metadata: ["acquirer": "\(acquirer.id)", "limit": "\(acquirer.limits.connections)", "peer": "\(session.peer)"])
                return seal(AuthorizationPipeline.answer(to: message, .exceedsFrequencyLimit), key: key)
            }
            // Signed on before as another acquirer: that one's connection goes.
            closed(session)
        }
        session.binding.withLock { $0 = AcquirerSession.Binding(acquirer: acquirer, key: key, usage: usage) }
        logger.info("acquirer signed on", metadata: ["acquirer": "\(acquirer.id)", "peer": "\(session.peer)"])
        return seal(AuthorizationPipeline.answer(to: message, .approved), key: key)
    }

    /// 63, nothing else done; MAC'd when the connection's key is known.
    func refuse(_ message: Message, _ why: String, session: AcquirerSession, key: MACKey?) -> Message {
        logger.notice("refused at the acquirer port: \(why)", metadata: ["mti": "\(message.mti)", "stan": "\(message.string(11) ?? "-")",
                                                                         "peer": "\(session.peer)"])
        let answer = AuthorizationPipeline.answer(to: message, .securityViolation)
        guard let key else { return answer }
        return seal(answer, key: key)
    }

    func seal(_ answer: Message, key: MACKey) -> Message {
        (try? MessageAuthentication.seal(answer, key: key, codec: codec).message) ?? answer
    }
}
