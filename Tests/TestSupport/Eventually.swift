/// Looks at `condition` until it holds or `timeout` has passed, and says whether it held.
///
/// Between looks it sleeps a couple of milliseconds instead of yielding: on a loaded
/// machine a loop of `Task.yield()` keeps the cooperative pool's few threads busy, and
/// the work being waited for (scheduled at a lower priority, or behind the loop) can
/// starve. The condition, not the pause, is what the caller relies on.
public func eventually(within timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let clock = ContinuousClock(), deadline = clock.now + timeout
    while true {
        if try await condition() { return true }
        if clock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(2))
    }
}
