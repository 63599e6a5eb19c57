import EMV
import Foundation
import ISO8583
import Logging
import Participants
import Synchronization
import TokenService

/// A message the network owes an issuer, kept in the network's database until the issuer
/// answers it: a reversal (0420, repeated as 0421 until the 0430) of an authorization
/// whose hold the issuer may have placed and the acquirer was not told of.
public struct OwedMessage: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// 0420, repeated as 0421.
        case reversal
        /// A stand-in approval's advice: 0120 (0220 for an 0200), repeated as 0121 (0221).
        case advice
    }
    public enum State: String, Codable, Sendable, CaseIterable {
        /// Waiting for the issuer's answer.
        case queued
        /// Answered by the issuer (`responseCode`).
        case delivered
        /// Given up (retry limit or lifetime reached): an alarm was raised.
        case expired
    }
    /// `reversal:` and the original's key: one reversal is owed per authorization.
    public var id: String
    public var kind: Kind
    public var issuerID: String
    /// The packed message, card number included, sealed under the vault's data key with
    /// `id` as its context: no card number in clear at rest.
    public var sealed: Data
    public var maskedPAN: String?
    public var reason: String
    public var state: State
    /// Times sent (the first as 0420, the others as 0421).
    public var attempts: Int
    public var queuedAt: Date
    public var expiresAt: Date
    public var lastAttemptAt: Date?
    public var lastError: String?
    /// The issuer's field 39, once answered.
    public var responseCode: String?
    public var deliveredAt: Date?

    public init(id: String, kind: Kind, issuerID: String, sealed: Data, maskedPAN: String?, reason: String, queuedAt: Date, expiresAt: Date) {
        self.id = id; self.kind = kind; self.issuerID = issuerID; self.sealed = sealed; self.maskedPAN = maskedPAN; self.reason = reason
        state = .queued; attempts = 0; self.queuedAt = queuedAt; self.expiresAt = expiresAt
    }

    /// The id of the reversal owed for an authorization.
    public static func reversalID(_ original: AuthorizationKey) -> String { reversalID(original.description) }
    /// The same, from the authorization's key as the journal writes it.
    public static func reversalID(_ originalKey: String) -> String { "reversal:" + originalKey }
    /// The id of the advice owed for an authorization stood in for.
    public static func adviceID(_ original: AuthorizationKey) -> String { "advice:\(original)" }
}

/// How much is waiting for one issuer, and for how long.
public struct QueueDepth: Codable, Sendable, Equatable {
    public var issuerID: String
    public var kind: OwedMessage.Kind
    public var queued: Int
    public var oldestQueuedAt: Date?
    public var expired: Int
    public var delivered: Int

    public init(issuerID: String, kind: OwedMessage.Kind, queued: Int, oldestQueuedAt: Date?, expired: Int, delivered: Int) {
        self.issuerID = issuerID; self.kind = kind; self.queued = queued; self.oldestQueuedAt = oldestQueuedAt
        self.expired = expired; self.delivered = delivered
    }
}

/// Where owed messages are kept: the network's own database (SQLite or PostgreSQL), so
/// that they outlive the process that queued them and any node can forward them.
public protocol OwedMessageStore: Sendable {
    /// Stores `message` unless one with its id exists; false then. Durable when it returns.
    func enqueue(_ message: OwedMessage) async throws -> Bool
    /// The issuers that have queued messages.
    func issuersOwed() async throws -> [String]
    /// One issuer's queued messages, in the order they were queued.
    func queued(issuerID: String, limit: Int) async throws -> [OwedMessage]
    /// Writes a message's new state (after an attempt).
    func update(_ message: OwedMessage) async throws
    /// Takes, or renews, the right to forward one issuer's messages until `until`: one node
    /// at a time forwards an issuer's queue, in order. False while another node holds it.
    func lease(issuerID: String, node: String, until: Date, now: Date) async throws -> Bool
    func owed(id: String) async throws -> OwedMessage?
    func depths() async throws -> [QueueDepth]
}

/// Forwards owed messages to their issuers: each issuer's queue in order, one message at
/// a time; an issuer that does not answer is retried after a back-off (1 s doubling to
/// 60 s); a message is repeated (0421) until the issuer answers it, or given up with an
/// alarm after `maxAttempts` sends or its `lifetime`. An issuer's answer of 91 or 96 (it
/// could not process it) counts as no answer. Runs on every node; on PostgreSQL a lease
/// per issuer lets one node at a time forward that issuer's queue.
public final class Forwarder: Sendable {
    let store: any OwedMessageStore
    let links: any IssuerLinks
    let issuers: any IssuerRanges
    let sealing: any MessageSealing
    let policy: RetryPolicy
    let logger: Logger
    let now: @Sendable () -> Date
    let codec = ISO8583Codec()
    /// This process, in the forwarding leases.
    public let node = UUID().uuidString.lowercased()
    /// Per issuer: failed attempts in a row and when to try again.
    let backoff: Backoff
    /// Counters since start, for the operator.
    let counters = Mutex<(delivered: Int, expired: Int, attempts: Int)>((0, 0, 0))
    let wakeup = Wakeup()

    public init(store: any OwedMessageStore, links: any IssuerLinks, issuers: any IssuerRanges, sealing: any MessageSealing,
                policy: RetryPolicy = .standard, logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store; self.links = links; self.issuers = issuers; self.sealing = sealing; self.policy = policy
        self.logger = logger; self.now = now
        backoff = Backoff(policy: policy)
    }

    /// The reversal of `authorization` as it is kept (sealed), and its id.
    public func sealedReversal(of authorization: Message) throws -> (id: String, sealed: Data) {
        let id = OwedMessage.reversalID(Self.key(of: authorization))
        return (id, sealing.seal(try codec.pack(Self.reversal(of: authorization)), context: id))
    }

    /// A message as it is to be sent (an acquirer's reversal, an advice) sealed under `id`.
    public func seal(_ message: Message, id: String) throws -> (id: String, sealed: Data) {
        (id, sealing.seal(try codec.pack(message), context: id))
    }

    /// The queue's record of a sealed reversal, queued now (to be written by the caller,
    /// with a journal entry).
    public func owed(_ sealed: (id: String, sealed: Data), kind: OwedMessage.Kind = .reversal, issuerID: String, maskedPAN: String?,
                     reason: String) -> OwedMessage {
        let at = now()
        return OwedMessage(id: sealed.id, kind: kind, issuerID: issuerID, sealed: sealed.sealed, maskedPAN: maskedPAN, reason: reason,
                           queuedAt: at, expiresAt: at.addingTimeInterval(policy.lifetime.seconds))
    }

    /// Something was queued here: forward it now rather than at the next poll.
    public func wake() { wakeup.signal() }

    /// The 0420 the network sends for an authorization it sent the issuer.
    static func reversal(of authorization: Message) -> Message {
        var reversal = Message(mti: "0420")
        for f in [2, 3, 4, 7, 11, 12, 13, 14, 32, 37, 41, 42, 49] where authorization[f] != nil { reversal[f] = authorization[f] }
        reversal.set(90, OriginalDataElements(mti: authorization.mti, stan: authorization.string(11) ?? "", transmission: authorization.string(7) ?? "",
                                              acquirer: authorization.string(32) ?? "").field90)
        return reversal
    }

    static func key(of authorization: Message) -> AuthorizationKey {
        AuthorizationKey(acquirer: authorization.string(32) ?? "", terminal: authorization.string(41) ?? "", stan: authorization.string(11) ?? "",
                         transmission: authorization.string(7) ?? "")
    }

    /// Forwards until cancelled: a round whenever something is queued here, and every
    /// `pollInterval` for what other nodes queued or what is due again.
    public func run() async {
        while !Task.isCancelled {
            await round()
            await wakeup.wait(upTo: policy.pollInterval)
        }
    }

    /// One pass over every issuer that is owed something and not backing off: what can be
    /// delivered is. Returns the number of messages the issuers answered.
    @discardableResult
    public func round() async -> Int {
        let owed: [String]
        do { owed = try await store.issuersOwed() } catch {
            logger.error("store-and-forward queue unreadable", metadata: ["error": "\(error)"])
            return 0
        }
        var delivered = 0
        for issuerID in owed where !Task.isCancelled {
            if backoff.isWaiting(issuerID) { continue }
            delivered += await forward(issuerID: issuerID)
        }
        return delivered
    }

    /// The issuer's forwarding lease, for this node.
    func lease(_ issuerID: String) -> (Date, Date) async throws -> Bool {
        { [store, node] until, now in try await store.lease(issuerID: issuerID, node: node, until: until, now: now) }
    }

    /// One issuer's queue, in order, until it is empty or the issuer stops answering; under
    /// the issuer's lease, let go at the end.
    func forward(issuerID: String) async -> Int {
        await policy.underLease(issuerID, now: now, logger: logger, "store-and-forward", lease: lease(issuerID)) {
            await forwardLeased(issuerID: issuerID)
        }
    }

    func forwardLeased(issuerID: String) async -> Int {
        var delivered = 0
        do {
            guard let issuer = try await issuers.issuers().first(where: { $0.id == issuerID }) else {
                logger.error("store-and-forward: messages owed to an issuer the network no longer has", metadata: ["issuer": "\(issuerID)"])
                return 0
            }
            while !Task.isCancelled {
                let batch = try await store.queued(issuerID: issuerID, limit: 64)
                if batch.isEmpty { break }
                for var message in batch {
                    if message.attempts >= policy.maxAttempts || now() >= message.expiresAt {
                        message.state = .expired
                        try await store.update(message)
                        counters.withLock { $0.expired += 1 }
                        logger.critical("ALARM store-and-forward: \(message.kind == .advice ? "an advice" : "a reversal") was given up: the issuer never answered it", metadata: [
                            "id": "\(message.id)", "issuer": "\(issuerID)", "attempts": "\(message.attempts)",
                            "queued": "\(message.queuedAt)", "error": "\(message.lastError ?? "-")",
                        ])
                        continue
                    }
                    guard try await attempt(&message, issuer: issuer) else { return delivered }
                    delivered += 1
                }
                // Renewed for the next batch.
                guard try await policy.renew(now: now, lease: lease(issuerID)) else { break }
            }
        } catch {
            logger.error("store-and-forward: forwarding failed", metadata: ["issuer": "\(issuerID)", "error": "\(error)"])
        }
        return delivered
    }

    /// Sends one message (0420, or 0421 when sent before); true when the issuer answered it.
    func attempt(_ message: inout OwedMessage, issuer: Issuer) async throws -> Bool {
        var request = try codec.unpack(try sealing.open(message.sealed, context: message.id))
        if message.attempts > 0 { request.mti = MessageType.repeatOf(request.mti) }
        message.attempts += 1
        message.lastAttemptAt = now()
        counters.withLock { $0.attempts += 1 }
        let failure: String
        let code: String
        do {
            code = try await links.send(request, to: issuer).string(39) ?? ""
            failure = code == ResponseCode.issuerUnavailable.rawValue || code == ResponseCode.systemMalfunction.rawValue ? "the issuer answered \(code)" : ""
        } catch {
            code = ""
            failure = "\(error)"
        }
        if failure.isEmpty {
            // Answered: recorded as delivered (a failure to record it means one more 0421 later, which the issuer takes once).
            message.state = .delivered
            message.responseCode = code
            message.deliveredAt = now()
            message.lastError = nil
            try await store.update(message)
            backoff.succeeded(issuer.id)
            counters.withLock { $0.delivered += 1 }
            logger.info("store-and-forward: delivered", metadata: ["id": "\(message.id)", "issuer": "\(issuer.id)", "rc": "\(code)",
                                                                   "attempts": "\(message.attempts)"])
            return true
        }
        message.lastError = failure
        try await store.update(message)
        let wait = backoff.failed(issuer.id)
        logger.warning("store-and-forward: the issuer did not take a message: retrying", metadata: [
            "id": "\(message.id)", "issuer": "\(issuer.id)", "attempts": "\(message.attempts)", "error": "\(failure)", "retryIn": "\(wait)",
        ])
        return false
    }

    /// Since this process started: messages the issuers answered, messages given up, sends.
    public var totals: (delivered: Int, expired: Int, attempts: Int) { counters.withLock { $0 } }
}
