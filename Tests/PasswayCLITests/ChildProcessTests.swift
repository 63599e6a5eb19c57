import Foundation
import Testing
import TestSupport

/// The tests' own way of running programs (posix_spawn, in place of Foundation's `Process`,
/// whose `run()` crashed the suite on Linux).
@Suite struct ChildProcessTests {
    @Test func aChildHasItsThreeStandardDescriptorsAndNoOther() throws {
        // A descriptor of the test process that is not close-on-exec.
        let inherited = open("/dev/null", O_RDONLY)
        try #require(inherited > 2)
        defer { close(inherited) }
        let listing = try Subprocess.run("/bin/sh", ["-c", "exec ls /proc/self/fd"])
        // ls's own directory stream is the one descriptor beyond 0, 1 and 2.
        let descriptors = listing.stdout.split(separator: "\n").compactMap { Int($0) }.filter { $0 > 2 }
        #expect(listing.status == 0)
        #expect(descriptors.count == 1, "descriptors of the test process inherited: \(descriptors)")
    }

    @Test func standardInputOutputAndErrorGoBothWaysWithoutBlocking() throws {
        // More than a pipe holds (64 KiB) in each direction at once.
        // ASCII, since the result is read as UTF-8 text.
        let input = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 % 127 + 1) })
        let echoed = try Subprocess.run("/bin/sh", ["-c", "tee /dev/stderr"], stdin: input)
        #expect(echoed.status == 0)
        // Compared whole (#expect on unequal Data would diff 300 KB).
        #expect(Data(echoed.stdout.utf8).elementsEqual(input))
        #expect(Data(echoed.stderr.utf8).elementsEqual(input))
    }

    @Test func anExitCodeAndASignalAreReportedAsProcessReportedThem() throws {
        #expect(try Subprocess.run("/bin/sh", ["-c", "exit 3"]).status == 3)
        #expect(try Subprocess.run("/bin/sh", ["-c", "kill -TERM $$"]).status == SIGTERM)
        #expect(throws: ChildProcess.SpawnError.self) { try Subprocess.run("/nonexistent/program", []) }
    }

    @Test func aChildIsSignalledAndWaitedForFromSeveralThreads() async throws {
        let child = try ChildProcess.spawn("/bin/sleep", ["600"], environment: nil, stdin: nil, stdout: nil, stderr: nil)
        #expect(child.isRunning)
        async let first: Void = Task.detached { child.waitUntilExit() }.value
        async let second: Void = Task.detached { child.waitUntilExit() }.value
        child.terminate()
        _ = await (first, second)
        #expect(!child.isRunning)
        #expect(child.terminationStatus == SIGTERM)
        // Signalling an ended child does nothing (its pid may belong to another process by now).
        child.terminate()
    }
}
