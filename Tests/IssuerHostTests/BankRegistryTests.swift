import Foundation
@testable import IssuerHost
import ISO8583
import Logging
import Testing
import TestSupport
import Vault

/// The bundled issuer host's banks: each owns its card ranges, a card goes to the one
/// bank whose range holds it, and the ISO 8583 handler answers for that bank alone.
@Suite struct BankRegistryTests {
    func registry() throws -> (BankRegistry, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("banks-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return (BankRegistry(directory: directory, master: MasterKey.generate()), directory)
    }

    @Test func aCardGoesToTheOneBankWhoseRangeHoldsIt() async throws {
        let (registry, directory) = try registry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try await registry.create(id: "moskva", cardRanges: ["220070"])
        _ = try await registry.create(id: "jade", cardRanges: ["621700", "62170199"])
        await #expect(throws: IssuerHostError.conflict("card range 22007012 overlaps 220070 of bank moskva")) {
            try await registry.create(id: "other", cardRanges: ["22007012"])
        }
        await #expect(throws: IssuerHostError.conflict("bank jade exists")) { try await registry.create(id: "jade", cardRanges: ["990000"]) }
        await #expect(throws: IssuerHostError.invalid("cardRanges: 1 to 20 BINs of 6 to 11 digits")) {
            try await registry.create(id: "empty", cardRanges: [])
        }
        #expect(try await registry.bank(forCard: cardNumber("220070", seed: 1))?.id == "moskva")
        #expect(try await registry.bank(forCard: cardNumber("62170199", seed: 1))?.id == "jade")
        #expect(try await registry.bank(forCard: cardNumber("990000", seed: 1)) == nil)
        // A card outside the bank's ranges is not its to open.
        let moskva = try await registry.bank("moskva")
        await #expect(throws: IssuerHostError.self) {
            try await moskva.openAccount(NewAccount(pan: cardNumber("621700", seed: 2), expiry: "2912", holderName: "LI WEI", currency: "CNY"))
        }
        // Opened again from its files, each bank has its ranges.
        let reopened = BankRegistry(directory: directory, master: registry.master)
        try await reopened.openExisting()
        #expect(try await reopened.banks().map(\.cardRanges) == [["621700", "62170199"], ["220070"]])
    }

    /// A bank stored before banks had ranges gets the BINs of the cards it holds.
    @Test func aBankFromBeforeRangesTakesTheBINsOfItsCards() async throws {
        let (registry, directory) = try registry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let legacy = try IssuerDatabase(path: BankRegistry.path(directory, "legacy"))
        for (i, bin) in ["220070", "220071", "220070"].enumerated() {
            try await legacy.insertAccount(Account(id: "acct_\(i)", fingerprint: "f\(i)", sealedPAN: Data(), maskedPAN: bin + "******000\(i)",
                                                   expiry: "2912", cvv2Hash: nil, holderName: "OLD", phone: nil, bankApp: false, currency: "RUB",
                                                   balanceMinor: 0, creditLimitMinor: 0, dailyLimitMinor: 0, status: .active))
        }
        try await registry.openExisting()
        #expect(try await registry.bank("legacy").cardRanges == ["220070", "220071"])
        #expect(try await legacy.cardRanges() == ["220070", "220071"], "and keeps them")
    }

    @Test func theISOHandlerAnswersForTheBankThatHoldsTheCard() async throws {
        let (registry, directory) = try registry()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let moskva = try await registry.create(id: "moskva", cardRanges: ["220070"])
        _ = try await registry.create(id: "jade", cardRanges: ["621700"])
        let pan = cardNumber("220070", seed: 3)
        _ = try await moskva.openAccount(NewAccount(pan: pan, expiry: "2912", holderName: "IVAN PETROV", currency: "RUB", balanceMinor: 100_000))
        let handler = IssuerHostHandler(registry: registry, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })

        var request = Message(mti: "0100")
        request.set(2, pan); request.set(3, "000000"); request.set(4, "000000060000"); request.set(7, "1129101500"); request.set(11, "000001")
        request.set(14, "2912"); request.set(32, "25000001"); request.set(41, "MSK00001"); request.set(49, "643")
        let approved = try #require(await handler.handle(request))
        #expect(approved.mti == "0110" && approved.responseCode == .approved && approved.string(38)?.count == 6)
        #expect(try await moskva.availableMinor(pan: pan) == 40_000)

        var elsewhere = request
        elsewhere.set(2, cardNumber("990000", seed: 3)); elsewhere.set(11, "000002")
        #expect(await handler.handle(elsewhere)?.responseCode == .invalidCardNumber)
        var unknownCard = request
        unknownCard.set(2, cardNumber("621700", seed: 3)); unknownCard.set(11, "000003")
        #expect(await handler.handle(unknownCard)?.responseCode == .invalidCardNumber, "jade's range, no such card at jade")
        var noAmount = request
        noAmount[4] = nil
        #expect(await handler.handle(noAmount)?.responseCode == .formatError)

        var reversal = request
        reversal.mti = "0400"; reversal.set(11, "000009")
        reversal.set(90, OriginalDataElements(mti: "0100", stan: "000001", transmission: "1129101500", acquirer: "25000001").field90)
        #expect(await handler.handle(reversal)?.responseCode == .approved)
        #expect(try await moskva.availableMinor(pan: pan) == 100_000)

        var echo = Message(mti: "0800")
        echo.set(7, "1129101500"); echo.set(11, "000001"); echo.set(70, "301")
        #expect(await handler.handle(echo)?.mti == "0810")
        var answer = request
        answer.mti = "0110"
        #expect(await handler.handle(answer) == nil)
    }

    /// Two nodes on one PostgreSQL schema: a bank created through one is found by the other
    /// at once, by card and by id, however recently the other last read the banks; and many
    /// misses at once share re-reads.
    @Test(.enabled(if: TestPostgres.url != nil, "needs PASSWAY_POSTGRES_URL"))
    func aBankCreatedThroughOneNodeIsFoundByTheOtherAtOnce() async throws {
        let url = try #require(TestPostgres.url)
        let schema = TestPostgres.freshSchema()
        let hostA = try await PostgresIssuerHost(url: url, schema: schema, maximumConnections: 4, logger: TestPostgres.logger)
        let hostB = try await PostgresIssuerHost(url: url, schema: schema, maximumConnections: 4, logger: TestPostgres.logger)
        defer { Task { await hostA.close(); await hostB.close(); await TestPostgres.dropSchema(schema) } }
        let master = MasterKey.generate()
        let a = BankRegistry(postgres: hostA, master: master), b = BankRegistry(postgres: hostB, master: master)
        try await a.openExisting()
        try await b.openExisting()
        for (i, bin) in ["220070", "220071", "220072"].enumerated() {
            // B has just read the banks (a miss of its own): A's new bank is still found.
            #expect(try await b.bank(forCard: cardNumber("990000", seed: i)) == nil)
            _ = try await a.create(id: "bank-\(i)", cardRanges: [bin])
            #expect(try await b.bank(forCard: cardNumber(bin, seed: i))?.id == "bank-\(i)")
        }
        _ = try await a.create(id: "by-id", cardRanges: ["220073"])
        #expect(try await b.bank("by-id").cardRanges == ["220073"])
        // And B refuses a range A took a moment ago.
        _ = try await a.create(id: "late", cardRanges: ["220074"])
        await #expect(throws: IssuerHostError.conflict("card range 22007412 overlaps 220074 of bank late")) {
            try await b.create(id: "other", cardRanges: ["22007412"])
        }
        // Fifty misses at once are answered, each after a re-read that began after it.
        _ = try await a.create(id: "crowd", cardRanges: ["220075"])
        let found = try await withThrowingTaskGroup(of: String?.self) { group in
            for i in 0..<50 { group.addTask { try await b.bank(forCard: cardNumber(i % 2 == 0 ? "220075" : "990000", seed: i))?.id } }
            return try await group.reduce(into: [String?]()) { $0.append($1) }
        }
        #expect(found.filter { $0 == "crowd" }.count == 25 && found.filter { $0 == nil }.count == 25)
    }
}
