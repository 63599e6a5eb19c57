import Testing

/// Keeps the tests that take the machine's cores for seconds (oracles computing a thousand
/// vectors in a debug build, fuzzers, random properties) from running while a test with a
/// time limit runs (an issuer timeout, an idle limit, a load window): on two cores they
/// would starve the concurrency pool that the in-process platform answers with, and a
/// limit would pass for no fault of the code.
///
/// `@Test(.heavy)` runs alone among the tests that say what they are: no other heavy test
/// and no timed one beside it. `@Suite(.timed)` or `@Test(.timed)` runs beside other timed
/// tests, never beside a heavy one. Tests that say neither run whenever Swift Testing
/// runs them. A heavy test that waits is let in before timed tests that arrive after it.
public struct MachineShare: TestTrait, SuiteTrait, TestScoping {
    public enum Kind: Sendable { case heavy, timed }
    public let kind: Kind

    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> MachineShare? {
        // Each test once, as a whole; a suite holds nothing itself (its tests take their turn).
        test.isSuite || testCase != nil ? nil : self
    }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        await Self.gate.enter(kind)
        do { try await function() } catch {
            await Self.gate.leave(kind)
            throw error
        }
        await Self.gate.leave(kind)
    }

    static let gate = Gate()

    /// A readers-writer lock in turns: timed tests share it, a heavy test takes it alone.
    actor Gate {
        var timedRunning = 0
        var heavyRunning = false
        var heavyWaiting: [CheckedContinuation<Void, Never>] = []
        var timedWaiting: [CheckedContinuation<Void, Never>] = []

        func enter(_ kind: Kind) async {
            switch kind {
            case .heavy:
                if !heavyRunning && timedRunning == 0 && heavyWaiting.isEmpty { heavyRunning = true; return }
                await withCheckedContinuation { heavyWaiting.append($0) }
            case .timed:
                if !heavyRunning && heavyWaiting.isEmpty { timedRunning += 1; return }
                await withCheckedContinuation { timedWaiting.append($0) }
            }
        }

        func leave(_ kind: Kind) {
            switch kind {
            case .heavy: heavyRunning = false
            case .timed: timedRunning -= 1
            }
            guard !heavyRunning, timedRunning == 0 || heavyWaiting.isEmpty else { return }
            if timedRunning == 0, !heavyWaiting.isEmpty {
                heavyRunning = true
                heavyWaiting.removeFirst().resume()
            } else if heavyWaiting.isEmpty {
                timedRunning += timedWaiting.count
                for waiter in timedWaiting { waiter.resume() }
                timedWaiting = []
            }
        }
    }
}

extension Trait where Self == MachineShare {
    /// Takes the cores for seconds: runs alone among heavy and timed tests.
    public static var heavy: MachineShare { MachineShare(kind: .heavy) }
    /// Has a time limit that a starved machine could break: never runs beside a heavy test.
    public static var timed: MachineShare { MachineShare(kind: .timed) }
}
