import EMV
import Foundation
import Participants
import Storage
import Testing
import TestSupport
import TokenService
import Vault

/// A master key rotated without downtime: the vault's keys wrapped anew, every sealed
/// card still opens and every fingerprint still finds it under the new key, a node that
/// was running goes on, and the old key no longer opens the vault.
@Suite struct MasterKeyRotationTests {
    @Test(arguments: Backend.available)
    func aRotatedVaultOpensOnlyUnderTheNewKeyWithEverythingAsItWas(_ backend: Backend) async throws {
        let s = try await StoreUnderTest.open(backend)
        defer { Task { await s.close() } }
        let old = MasterKey.generate(), new = MasterKey.generate()
        let running = try await TokenService.openVault(master: old, store: s.store)
        let pan = try PAN(cardNumber("220070", seed: 61))
        let sealed = running.seal(pan, context: "card_1")
        let fingerprint = running.fingerprint(pan)

        #expect(try await TokenService.rotateMasterKey(store: s.store, from: old, to: new) == new.checkValue)
        let reopened = try await TokenService.openVault(master: new, store: try await s.openAnother())
        #expect(try reopened.open(sealed, context: "card_1") == pan)
        #expect(reopened.fingerprint(pan) == fingerprint, "fingerprints outlive the master key that made them")
        #expect(try running.open(running.seal(pan, context: "card_2"), context: "card_2") == pan, "the running node goes on")
        #expect(try reopened.open(running.seal(pan, context: "card_3"), context: "card_3") == pan, "one data key for both")
        await #expect(throws: VaultError.self) { _ = try await TokenService.openVault(master: old, store: s.store) }
        // Rotated again, from the new key only.
        await #expect(throws: (any Error).self) { _ = try await TokenService.rotateMasterKey(store: s.store, from: old, to: MasterKey.generate()) }
        let third = MasterKey.generate()
        _ = try await TokenService.rotateMasterKey(store: s.store, from: new, to: third)
        #expect(try await TokenService.openVault(master: third, store: s.store).fingerprint(pan) == fingerprint)
    }
}
