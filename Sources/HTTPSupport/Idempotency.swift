import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Vault

/// `Idempotency-Key` on POSTs: the first answer to a key is kept and replayed; the same
/// key with a different request is refused rather than silently answered; a key is
/// reserved before its request runs, so that of two simultaneous requests with one key
/// (on any node) only one runs and the other is told to come back (409).
///
/// Nothing of a request or its answer is kept in clear: the key is stored as its HMAC
/// (with its owner), the request as the HMAC of its SHA-256, and the answer (an API key,
/// for a creation) sealed with AES-256-GCM, all under the vault's keys.
public struct Idempotency: Sendable {
    let store: any IdempotencyStore
    let vault: CardVault

    public init(store: any IdempotencyStore, vault: CardVault) { self.store = store; self.vault = vault }

    /// Runs `handler` once for (`owner`, `key`) and this request, or replays its answer.
    /// `owner` scopes keys (each participant has its own); `path` and `body` are the request.
    public func respond(key: String, owner: String, path: String, body: Data,
                        _ handler: () async throws -> APIResult) async throws -> Response {
        guard (1...255).contains(key.count), key.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw Problem.badRequest("Idempotency-Key must be 1 to 255 visible ASCII characters", field: "Idempotency-Key")
        }
        // The same JSON with its keys in another order is the same request.
        let canonical = (try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]))
            .flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) } ?? body
        let hash = vault.fingerprint(secret: SHA256.hash(data: Data("POST \(path)\n".utf8) + canonical).map { String(format: "%02X", $0) }.joined(),
                                     purpose: "idempotent-request")
        let key = vault.fingerprint(secret: "\(owner)\n\(key)", purpose: "idempotency-key")
        let context = "idempotent-answer/\(owner)/\(key)"
        func reused() -> Problem {
            Problem(.conflict, code: "idempotency-key-reused", title: "Idempotency-Key reused",
                    detail: "this Idempotency-Key was used for a different request; use a new key for a new request")
        }
        switch try await store.reserve(owner: owner, key: key, requestHash: hash, at: Date()) {
        case .answered(let stored):
            guard stored.requestHash == hash else { throw reused() }
            let body: [UInt8]
            do { body = try vault.openSecret(stored.body, context: context) } catch {
                throw Problem(.conflict, code: "idempotency-key-reused", title: "Idempotency-Key reused",
                              detail: "the answer kept for this Idempotency-Key cannot be read; use a new key")
            }
            var response = APIResult(status: HTTPResponse.Status(code: stored.status), body: Data(body)).response
            response.headers[Self.replayed] = "true"
            return response
        case .inProgress(let requestHash):
            guard requestHash == hash else { throw reused() }
            throw Problem(.conflict, code: "idempotency-key-in-progress", title: "Request in progress",
                          detail: "a request with this Idempotency-Key is still running; repeat it later to get its answer")
        case .reserved:
            break
        }
        let result: APIResult
        do {
            result = try await handler()
        } catch {
            try? await store.release(owner: owner, key: key)
            throw error
        }
        try await store.save(owner: owner, key: key, response: StoredResponse(requestHash: hash, status: Int(result.status.code),
                                                                             body: vault.sealSecret(Array(result.body), context: context)))
        return result.response
    }

    public static let header = HTTPField.Name("Idempotency-Key")!
    static let replayed = HTTPField.Name("Idempotent-Replayed")!
}

/// Where idempotency keys and their answers are kept: the HTTP layer's own store.
public protocol IdempotencyStore: Sendable {
    /// Reserves the key for a request, or says what holds it: a stored answer, or another
    /// request still running. A reservation older than `reservationLifetime` (its node
    /// died) may be taken over.
    func reserve(owner: String, key: String, requestHash: String, at: Date) async throws -> IdempotencyReservation
    /// Stores the answer under a key this caller reserved. Throws
    /// `IdempotencyError.reservationLost` when the key is not reserved (any more).
    func save(owner: String, key: String, response: StoredResponse) async throws
    /// Gives a reservation up (its request failed): the key may be used again.
    func release(owner: String, key: String) async throws
}

public enum IdempotencyReservation: Sendable, Equatable {
    /// The key is now this caller's: run the request, then save or release.
    case reserved
    /// A request with this key was answered: here is the answer to replay.
    case answered(StoredResponse)
    /// Another request with this key is running (its hash says whether it is the same request).
    case inProgress(requestHash: String)

    /// How long a reservation without an answer blocks its key.
    public static let reservationLifetime: Duration = .seconds(60)
}

public enum IdempotencyError: Error, Equatable {
    case reservationLost
}

/// An answer kept for a replayed `Idempotency-Key`.
public struct StoredResponse: Codable, Sendable, Equatable {
    /// HMAC of the SHA-256 of method, path and body: the same key with another request is refused.
    public var requestHash: String
    public var status: Int
    /// The answer's body, sealed.
    public var body: Data
    public init(requestHash: String, status: Int, body: Data) {
        self.requestHash = requestHash; self.status = status; self.body = body
    }
}
