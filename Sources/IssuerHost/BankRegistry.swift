import Foundation
import Synchronization
import Vault

/// The banks of the bundled issuer host. One process can host several banks, each with
/// the card ranges it issues from: a card number belongs to the bank whose range is its
/// longest prefix (ranges of different banks never overlap), so an authorization goes to
/// one bank and no other. On SQLite each bank has a database file of its own; on
/// PostgreSQL the banks share a schema, and a bank created through one node is found by
/// the others: a card or bank id that matches none waits for a re-read of the banks that
/// began after it missed (one re-read at a time, shared by every miss waiting for it).
public final class BankRegistry: Sendable {
    enum Backend: Sendable {
        case sqlite(directory: String)
        case postgres(PostgresIssuerHost)
    }

    let backend: Backend
    let master: MasterKey

    struct State {
        var banks: [String: Bank] = [:]
        /// Every bank's ranges, longest first: the first that prefixes a number is its bank.
        var ranges: [(prefix: String, bank: Bank)] = []
        /// Banks being created: their ids and ranges are taken.
        var creating: [String: [String]] = [:]
        /// Re-reads started so far, and the one under way (its number and task).
        var reloadsStarted = 0
        var reloading: (number: Int, task: Task<Void, Error>)?

        /// Adds a bank not yet known (a re-read racing a creation keeps the first).
        mutating func add(_ bank: Bank) {
            guard banks[bank.id] == nil else { return }
            banks[bank.id] = bank
            ranges = banks.values.flatMap { b in b.cardRanges.map { ($0, b) } }.sorted { $0.prefix.count > $1.prefix.count }
        }
    }
    let state = Mutex(State())

    public init(directory: String, master: MasterKey) {
        backend = .sqlite(directory: directory)
        self.master = master
    }

    public init(postgres: PostgresIssuerHost, master: MasterKey) {
        backend = .postgres(postgres)
        self.master = master
    }

    /// Opens every bank there is.
    public func openExisting() async throws {
        switch backend {
        case .sqlite(let directory):
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for file in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() where file.hasSuffix(".sqlite") {
                let id = String(file.dropLast(".sqlite".count))
                let bank = try await Bank(id: id, database: IssuerDatabase(path: Self.path(directory, id)), master: master)
                state.withLock { $0.add(bank) }
            }
        case .postgres(let host):
            for id in try await host.bankIDs() where state.withLock({ $0.banks[id] == nil }) {
                let bank = try await Bank(id: id, database: host.store(bank: id), master: master)
                state.withLock { $0.add(bank) }
            }
        }
    }

    static func path(_ directory: String, _ id: String) -> String { (directory as NSString).appendingPathComponent("\(id).sqlite") }

    /// Creates a bank issuing cards from `cardRanges` (BINs of 6 to 11 digits, apart from
    /// every other bank's).
    public func create(id: String, cardRanges: [String]) async throws -> Bank {
        guard (2...40).contains(id.count), id.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }),
              id.first?.isLetter == true else {
            throw IssuerHostError.invalid("id: 2 to 40 lower-case letters, digits or '-', starting with a letter")
        }
        guard (1...20).contains(cardRanges.count),
              cardRanges.allSatisfy({ (6...11).contains($0.count) && $0.allSatisfy { $0.isASCII && $0.isNumber } }) else {
            throw IssuerHostError.invalid("cardRanges: 1 to 20 BINs of 6 to 11 digits")
        }
        try await reloadAfterMiss()
        try state.withLock { s in
            guard s.banks[id] == nil, s.creating[id] == nil else { throw IssuerHostError.conflict("bank \(id) exists") }
            let taken = s.ranges.map { ($0.prefix, $0.bank.id) } + s.creating.flatMap { other in other.value.map { ($0, other.key) } }
            for range in cardRanges {
                if let (other, owner) = taken.first(where: { $0.0.hasPrefix(range) || range.hasPrefix($0.0) }) {
                    throw IssuerHostError.conflict("card range \(range) overlaps \(other) of bank \(owner)")
                }
            }
            s.creating[id] = cardRanges
        }
        defer { state.withLock { _ = $0.creating.removeValue(forKey: id) } }
        let bank: Bank
        switch backend {
        case .sqlite(let directory):
            let database = try IssuerDatabase(path: Self.path(directory, id))
            try await database.saveCardRanges(cardRanges)
            bank = try await Bank(id: id, database: database, master: master)
        case .postgres(let host):
            guard try await host.createBank(id: id, cardRanges: cardRanges) else { throw IssuerHostError.conflict("bank \(id) exists") }
            bank = try await Bank(id: id, database: host.store(bank: id), master: master)
        }
        state.withLock { $0.add(bank) }
        return bank
    }

    /// The bank with this id.
    public func bank(_ id: String) async throws -> Bank {
        if let bank = state.withLock({ $0.banks[id] }) { return bank }
        try await reloadAfterMiss()
        if let bank = state.withLock({ $0.banks[id] }) { return bank }
        throw IssuerHostError.notFound("bank \(id)")
    }

    /// The bank whose card range holds this card number, or nil: no bank issues it.
    public func bank(forCard digits: String) async throws -> Bank? {
        if let bank = Self.match(digits, state.withLock { $0.ranges }) { return bank }
        try await reloadAfterMiss()
        return Self.match(digits, state.withLock { $0.ranges })
    }

    static func match(_ digits: String, _ ranges: [(prefix: String, bank: Bank)]) -> Bank? {
        ranges.first { digits.hasPrefix($0.prefix) }?.bank
    }

    /// Every bank, by id (on PostgreSQL, including those created through other nodes).
    public func banks() async throws -> [Bank] {
        if case .postgres = backend { try await openExisting() }
        return state.withLock { $0.banks.values.sorted { $0.id < $1.id } }
    }

    /// On PostgreSQL, the banks other nodes created, read by a re-read that began after
    /// this call: a bank created anywhere before a miss is found by it. At most one re-read
    /// is under way; a miss that arrives during one waits for it and then for the next,
    /// which every miss arriving meanwhile shares, so a flood of unknown cards costs one
    /// query at a time.
    private func reloadAfterMiss() async throws {
        guard case .postgres = backend else { return }
        let missedAfter = state.withLock { $0.reloadsStarted }
        while true {
            let reload = state.withLock { s -> (number: Int, task: Task<Void, Error>) in
                if let under = s.reloading { return under }
                s.reloadsStarted += 1
                let started = (number: s.reloadsStarted, task: Task { try await self.openExisting() })
                s.reloading = started
                return started
            }
            let result = await reload.task.result
            state.withLock { s in if s.reloading?.number == reload.number { s.reloading = nil } }
            if reload.number > missedAfter { return try result.get() }
        }
    }
}
