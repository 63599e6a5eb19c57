import EMV
import Foundation
import Testing
@testable import TokenService

/// The cryptogram's transaction date (9A) is checked by day arithmetic: each day number
/// agrees with Foundation's Gregorian calendar, and what is not a day is refused.
@Suite struct TransactionDateTests {
    @Test func dayNumbersAgreeWithFoundationsCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let year = Int.random(in: 1900...2199, using: &rng), month = Int.random(in: 1...12, using: &rng), day = Int.random(in: 1...31, using: &rng)
            let foundation = calendar.date(from: DateComponents(year: year, month: month, day: day))
                .flatMap { calendar.component(.day, from: $0) == day ? Int(($0.timeIntervalSince1970 / 86_400).rounded(.down)) : nil }
            #expect(TokenService.dayNumber(year: year, month: month, day: day) == foundation, "\(year)-\(month)-\(day)")
        }
        for (y, m, d) in [(2023, 2, 29), (2100, 2, 29), (2024, 4, 31), (2024, 13, 1), (2024, 0, 10), (2024, 5, 0)] {
            #expect(TokenService.dayNumber(year: y, month: m, day: d) == nil, "\(y)-\(m)-\(d)")
        }
        #expect(TokenService.dayNumber(year: 2024, month: 2, day: 29) != nil)
        #expect(TokenService.dayNumber(year: 2000, month: 2, day: 29) != nil)
        #expect(TokenService.dayNumber(year: 1970, month: 1, day: 1) == 0)
    }

    @Test func aDateWithinADayOfTodayPassesAndOthersAreDeclined() {
        let now = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18, 11:06 UTC
        func bcd(_ text: String) -> [UInt8] { (try? Hex.decode(text)) ?? [] }
        for (date, passes) in [("261118", true), ("261117", true), ("261119", true), ("261116", false), ("261120", false), ("251118", false)] {
            let decline = TokenService.checkTransactionDate(bcd(date), now: now)
            #expect((decline == nil) == passes, "\(date)")
        }
        for bad in ["261131", "261318", "2611AA", "2611"] {
            if case .format? = TokenService.checkTransactionDate(bcd(bad), now: now) {} else { Issue.record("\(bad) is not a date") }
        }
    }
}
