import Foundation
import ISO8583
import Participants
import Synchronization

/// One rate the operator loaded: how many units of `currency` one US dollar buys from
/// `effectiveAt` on (until the currency's next rate takes effect). Rates are never
/// changed or removed: the table is their history.
public struct ExchangeRateEntry: Codable, Sendable, Equatable {
    /// ISO 4217 alpha code.
    public var currency: String
    /// Units per US dollar × 1,000,000.
    public var microUnitsPerUSD: Int64
    public var effectiveAt: Date
    /// When the operator loaded it.
    public var loadedAt: Date

    public init(currency: String, microUnitsPerUSD: Int64, effectiveAt: Date, loadedAt: Date) {
        self.currency = currency; self.microUnitsPerUSD = microUnitsPerUSD; self.effectiveAt = effectiveAt; self.loadedAt = loadedAt
    }

    /// `unitsPerUSD` as text, six decimals at most ("80.5", "0.86").
    public var unitsPerUSD: String { Self.unitsPerUSD(microUnitsPerUSD) }

    /// Units per US dollar × 10⁶ as the operator writes them: 80,500,000 → "80.5".
    public static func unitsPerUSD(_ micro: Int64) -> String {
        let whole = micro / 1_000_000, fraction = micro % 1_000_000
        guard fraction > 0 else { return String(whole) }
        var digits = String(format: "%06lld", fraction)
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }

    /// "80.5" → 80,500,000: at most twelve digits before the point and six after, above zero.
    public static func microUnits(_ text: String) -> Int64? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, (1...12).contains(whole.count), whole.allSatisfy(\.isASCIIDigit) else { return nil }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.count <= 6, fraction.allSatisfy(\.isASCIIDigit), parts.count == 1 || !fraction.isEmpty else { return nil }
        fraction += String(repeating: "0", count: 6 - fraction.count)
        guard let w = Int64(whole), let f = Int64(fraction) else { return nil }
        let value = w * 1_000_000 + f
        return value > 0 ? value : nil
    }
}

/// Where the operator's exchange rates are kept (the token service's database).
public protocol ExchangeRateStore: Sendable {
    /// Every rate ever loaded, by currency and effective time.
    func exchangeRates() async throws -> [ExchangeRateEntry]
    /// Adds a load in one transaction: a rate whose currency and effective time are there
    /// already with the same value is left as it is (counted as unchanged); with another
    /// value nothing is written and `ExchangeRateConflict` is thrown.
    func addExchangeRates(_ entries: [ExchangeRateEntry]) async throws -> (added: Int, unchanged: Int)
}

/// A loaded rate that would change one already there.
public struct ExchangeRateConflict: Error, Equatable, CustomStringConvertible {
    public var currency: String
    public var effectiveAt: Date
    public init(currency: String, effectiveAt: Date) { self.currency = currency; self.effectiveAt = effectiveAt }
    public var description: String {
        "\(currency) has another rate effective at \(ISO8601DateFormatter().string(from: effectiveAt)): a loaded rate is never changed, load one with a later effective time"
    }
}

/// The rates in memory, so that an authorization never waits for the database: each
/// currency's history sorted by effective time, the rate in effect found by binary
/// search. The US dollar is always 1. The operator's loads replace the history here at
/// once (and on other nodes when PostgreSQL tells them).
public final class ExchangeRateBook: Sendable {
    public let markupBasisPoints: Int
    private let history = Mutex<[String: [(at: Date, micro: Int64)]]>([:])

    public init(markupBasisPoints: Int = 100, entries: [ExchangeRateEntry] = []) {
        self.markupBasisPoints = markupBasisPoints
        replace(with: entries)
    }

    /// A fixed table in effect since ever (tests, and the demo's seed).
    public convenience init(_ table: ExchangeRates) {
        self.init(markupBasisPoints: table.markupBasisPoints, entries: table.entries(effectiveAt: .distantPast, loadedAt: .distantPast))
    }

    public func replace(with entries: [ExchangeRateEntry]) {
        var byCurrency: [String: [(at: Date, micro: Int64)]] = [:]
        for e in entries where e.currency != "USD" { byCurrency[e.currency, default: []].append((e.effectiveAt, e.microUnitsPerUSD)) }
        for c in byCurrency.keys { byCurrency[c]?.sort { $0.at < $1.at } }
        history.withLock { $0 = byCurrency }
    }

    /// Units per US dollar × 10⁶ of `currency` in effect at `at`; nil when none was yet.
    public func microUnitsPerUSD(_ currency: String, at: Date) -> Int64? {
        if currency == "USD" { return 1_000_000 }
        return history.withLock { h -> Int64? in
            guard let list = h[currency] else { return nil }
            // The last entry whose effective time is not after `at`.
            var low = 0, high = list.count
            while low < high {
                let mid = (low + high) / 2
                if list[mid].at <= at { low = mid + 1 } else { high = mid }
            }
            return low == 0 ? nil : list[low - 1].micro
        }
    }

    /// The table in effect at `at`: every currency that had a rate by then.
    public func table(at: Date) -> ExchangeRates {
        let currencies = history.withLock { Array($0.keys) }
        var rates: [String: Int64] = ["USD": 1_000_000]
        for c in currencies { rates[c] = microUnitsPerUSD(c, at: at) }
        return ExchangeRates(microUnitsPerUSD: rates, markupBasisPoints: markupBasisPoints)
    }

    /// The billing rate (field 10) from `from` into `to` at `at`.
    public func rate(from: Currency, to: Currency, at: Date) throws(ExchangeRates.ConversionError) -> ExchangeRates.Rate {
        guard let f = microUnitsPerUSD(from.alpha, at: at) else { throw .noRate(from.alpha) }
        guard let t = microUnitsPerUSD(to.alpha, at: at) else { throw .noRate(to.alpha) }
        return try ExchangeRates.rate(from: from, f, to: to, t, markupBasisPoints: markupBasisPoints)
    }
}

extension ExchangeRates {
    /// This table as rates loaded at one effective time.
    public func entries(effectiveAt: Date, loadedAt: Date) -> [ExchangeRateEntry] {
        microUnitsPerUSD.sorted { $0.key < $1.key }.map {
            ExchangeRateEntry(currency: $0.key, microUnitsPerUSD: $0.value, effectiveAt: effectiveAt, loadedAt: loadedAt)
        }
    }
}

/// A rate as the operator gives it (the API's JSON, a line of the CSV import).
public struct ExchangeRateInput: Codable, Sendable, Equatable {
    public var currency: String
    /// Units of `currency` per US dollar, a decimal with up to six places ("80.5").
    public var unitsPerUSD: String
    /// ISO 8601 with a zone ("2026-12-01T00:00:00Z").
    public var effectiveAt: String

    public init(currency: String, unitsPerUSD: String, effectiveAt: String) {
        self.currency = currency; self.unitsPerUSD = unitsPerUSD; self.effectiveAt = effectiveAt
    }
}

/// What a load did.
public struct ExchangeRateLoadResult: Codable, Sendable, Equatable {
    /// Rates new to the history.
    public var added: Int
    /// Rates that were there already with the same value.
    public var unchanged: Int
}

/// The operator's exchange rates: loads checked and kept (all of a load or none), the
/// book in memory refreshed from the database after each.
public final class ExchangeRateService: Sendable {
    public let book: ExchangeRateBook
    let store: any ExchangeRateStore
    let now: @Sendable () -> Date
    private let reloads = Mutex<(started: Int, applied: Int)>((0, 0))

    /// Rates in one load, at most.
    public static let maxRatesPerLoad = 10_000
    /// How far before now a rate may take effect: a rate does not change the past (a
    /// minute for clocks and the load's own time).
    public static let pastTolerance: TimeInterval = 60
    /// How far ahead a rate may take effect.
    public static let futureLimit: TimeInterval = 366 * 86_400
    /// The CSV import's first line.
    public static let csvHeader = "currency,units_per_usd,effective_at"

    public init(store: any ExchangeRateStore, markupBasisPoints: Int = 100, now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.book = ExchangeRateBook(markupBasisPoints: markupBasisPoints)
        self.now = now
    }

    /// Reads the history into the book (at start, and when another node loaded rates).
    public func reload() async throws {
        // Reloads may overlap (a load here, another node's announced): the one started
        // last wins, however the reads finish.
        let n = reloads.withLock { $0.started += 1; return $0.started }
        let entries = try await store.exchangeRates()
        reloads.withLock { r in
            guard n > r.applied else { return }
            r.applied = n
            book.replace(with: entries)
        }
    }

    /// With no rate ever loaded, `table` in effect since 1970 (the demo's and the tests'
    /// seed); the book reloaded either way.
    public func seedIfEmpty(_ table: ExchangeRates) async throws {
        if try await store.exchangeRates().isEmpty {
            let seed = table.entries(effectiveAt: Date(timeIntervalSince1970: 0), loadedAt: now()).filter { $0.currency != "USD" }
            _ = try await store.addExchangeRates(seed)
        }
        try await reload()
    }

    /// Every rate loaded, of one currency or all, by currency and effective time.
    public func history(currency: String?) async throws -> [ExchangeRateEntry] {
        let all = try await store.exchangeRates()
        return currency.map { c in all.filter { $0.currency == c } } ?? all
    }

    /// Checks a load and keeps it whole: `ServiceError.invalid` names the first rate that
    /// is not acceptable, `.conflict` one that would change a loaded rate.
    public func load(_ inputs: [ExchangeRateInput]) async throws -> ExchangeRateLoadResult {
        let entries = try check(inputs)
        let result: (added: Int, unchanged: Int)
        do { result = try await store.addExchangeRates(entries) } catch let e as ExchangeRateConflict {
            throw ServiceError.conflict(e.description)
        }
        try await reload()
        return ExchangeRateLoadResult(added: result.added, unchanged: result.unchanged)
    }

    func check(_ inputs: [ExchangeRateInput]) throws -> [ExchangeRateEntry] {
        guard (1...Self.maxRatesPerLoad).contains(inputs.count) else {
            throw ServiceError.invalid(field: "rates", reason: "one to \(Self.maxRatesPerLoad) rates in a load")
        }
        let at = now()
        var seen = Set<String>()
        var entries: [ExchangeRateEntry] = []
        for (i, input) in inputs.enumerated() {
            let field = "rates[\(i)]"
            guard input.currency.utf8.count == 3, input.currency.utf8.allSatisfy({ (0x41...0x5A).contains($0) }),
                  Currency.alpha(input.currency) != nil else {
                throw ServiceError.invalid(field: "\(field).currency", reason: "an ISO 4217 alpha code of a currency Passway knows, in capitals")
            }
            guard input.currency != "USD" else {
                throw ServiceError.invalid(field: "\(field).currency", reason: "USD is the base of the table (always 1): leave it out")
            }
            guard let micro = ExchangeRateEntry.microUnits(input.unitsPerUSD) else {
                throw ServiceError.invalid(field: "\(field).unitsPerUSD", reason: "a decimal above zero, up to 12 digits and 6 decimal places, like 80.5")
            }
            guard let effective = Self.parseTime(input.effectiveAt) else {
                throw ServiceError.invalid(field: "\(field).effectiveAt", reason: "an ISO 8601 time with its zone, like 2026-12-01T00:00:00Z")
            }
            guard effective >= at.addingTimeInterval(-Self.pastTolerance) else {
                throw ServiceError.invalid(field: "\(field).effectiveAt", reason: "in the past: a rate takes effect from now on (at most a minute ago)")
            }
            guard effective <= at.addingTimeInterval(Self.futureLimit) else {
                throw ServiceError.invalid(field: "\(field).effectiveAt", reason: "more than a year ahead")
            }
            let key = "\(input.currency)@\(RateTime.millis(effective))"
            guard seen.insert(key).inserted else {
                throw ServiceError.invalid(field: field, reason: "\(input.currency) at \(input.effectiveAt) twice in one load")
            }
            entries.append(ExchangeRateEntry(currency: input.currency, microUnitsPerUSD: micro, effectiveAt: effective, loadedAt: at))
        }
        return entries
    }

    public static func parseTime(_ text: String) -> Date? {
        guard text.utf8.count <= 40 else { return nil }
        let plain = ISO8601DateFormatter()
        if let d = plain.date(from: text) { return d }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    /// The CSV import: a first line `currency,units_per_usd,effective_at`, then one rate a
    /// line (LF or CRLF; blank lines and a UTF-8 byte-order mark ignored; no quoting). `ServiceError.invalid`
    /// names the line that is not one.
    public static func parseCSV(_ text: String) throws -> [ExchangeRateInput] {
        // "\r\n" is one Character, a newline like "\n"; a spreadsheet's byte-order mark is no part of the header.
        let text = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated().map {
            ($0.offset + 1, $0.element.trimmingCharacters(in: .whitespaces))
        }
        lines.removeAll { $0.1.isEmpty }
        guard let header = lines.first, header.1.lowercased() == csvHeader else {
            throw ServiceError.invalid(field: "line 1", reason: "the first line is `\(csvHeader)`")
        }
        guard lines.count - 1 <= maxRatesPerLoad else { throw ServiceError.invalid(field: "rates", reason: "one to \(maxRatesPerLoad) rates in a load") }
        return try lines.dropFirst().map { number, line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 3 else { throw ServiceError.invalid(field: "line \(number)", reason: "three values: currency,units_per_usd,effective_at") }
            return ExchangeRateInput(currency: cells[0], unitsPerUSD: cells[1], effectiveAt: cells[2])
        }
    }
}

/// Effective times as whole milliseconds since 1970, as the stores keep and compare them.
public enum RateTime {
    public static func millis(_ d: Date) -> Int64 {
        let ms = (d.timeIntervalSince1970 * 1000).rounded()
        return ms.isFinite ? Int64(max(-8.64e15, min(8.64e15, ms))) : 0
    }
    public static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
}
