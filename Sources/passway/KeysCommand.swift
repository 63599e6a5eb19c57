import ArgumentParser
import Foundation
import Storage
import TokenService
import Vault

/// `passway keys`: the vault master key under dual control.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Make a master key under dual control: components for two or three custodians, each with its check value.",
        subcommands: [Ceremony.self, Combine.self, Rotate.self])

    struct Ceremony: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a master key as 2 or 3 components, shown one at a time with their check values; the key itself is never shown.",
            discussion: """
            Each custodian records their component and its check value, and no one else sees it. At a terminal the \
            screen waits for Enter between components. The key is written only when --key-file is given (owner-only, \
            never over an existing file); otherwise the custodians enter their components later with `passway keys combine`.
            """)
        @Option(help: "Components: 2 or 3.") var components = 2
        @Option(name: .customLong("key-file"), help: "Also write the combined key to this file (e.g. .passway/master.key).") var keyFile: String?

        func validate() throws {
            guard KeyCeremony.componentCounts.contains(components) else { throw ValidationError("--components: 2 or 3") }
        }

        func run() throws {
            let atTerminal = isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1
            let made: (components: [KeyCeremony.Component], keyCheckValue: String)
            do { made = try KeyCeremony.generate(components: components) } catch { throw CLIError("\(error)") }
            for (n, component) in made.components.enumerated() {
                print("component \(n + 1) of \(components), for custodian \(n + 1) only:")
                print("  \(component.hex)")
                print("  check value \(component.checkValue)")
                if atTerminal {
                    print("custodian \(n + 1): record it, then press Enter (the screen is cleared)", terminator: "")
                    fflush(nil)
                    _ = readLine()
                    print("\u{1B}[2J\u{1B}[H", terminator: "")
                }
                fflush(nil)
            }
            print("the master key's check value: \(made.keyCheckValue)")
            guard let keyFile else {
                print("the key was not written: the custodians enter their components with `passway keys combine --key-file <file>`")
                return
            }
            let key: MasterKey
            do { key = try KeyCeremony.combine(made.components.map { ($0.hex, $0.checkValue) }) } catch { throw CLIError("\(error)") }
            try KeysCommand.write(key, to: keyFile)
        }
    }

    struct Combine: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Combine 2 or 3 components (one per line on standard input: the hex, then its check value) into a master key file.",
            discussion: "Each component is checked against its check value before anything is written; the key is written owner-only and never shown.")
        @Option(name: .customLong("key-file"), help: "The key file to write (it must not exist), e.g. .passway/master.key.") var keyFile: String

        func run() throws {
            var typed: [(hex: String, checkValue: String?)] = []
            while let line = readLine() {
                let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                guard !words.isEmpty else { continue }
                guard words.count <= 2 else { throw CLIError("each line: a component's 64 hex digits, then its check value") }
                typed.append((words[0], words.count == 2 ? words[1] : nil))
            }
            let key: MasterKey
            do { key = try KeyCeremony.combine(typed) } catch { throw CLIError("\(error)") }
            try KeysCommand.write(key, to: keyFile)
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rotate the vault's master key without downtime: its data key and fingerprint key, stored wrapped, are wrapped anew under the new key.",
            discussion: """
            The current key comes from PASSWAY_MASTER_KEY or master.key in --data-dir, the new one from --new-key-file (made with \
            `passway keys ceremony --key-file` or `combine`). Nothing sealed changes: nodes that are running go on with the keys they \
            hold; give each the new key (replace master.key, or PASSWAY_MASTER_KEY) before its next start.
            """)
        @Option(name: .customLong("data-dir"), help: "Where master.key and, on SQLite, passway.sqlite are.") var dataDir = ".passway"
        @Option(name: .customLong("new-key-file"), help: "The new master key (64 hex digits).") var newKeyFile: String
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let current: MasterKey
            do {
                if let hex = ProcessInfo.processInfo.environment["PASSWAY_MASTER_KEY"] {
                    current = try MasterKey(hex: hex)
                } else {
                    let file = (dataDir as NSString).appendingPathComponent("master.key")
                    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw CLIError("no current master key: PASSWAY_MASTER_KEY or \(file)") }
                    current = try MasterKey(hex: text)
                }
            } catch let error as CLIError { throw error } catch { throw CLIError("the current master key: \(error)") }
            let next: MasterKey
            do {
                guard let text = try? String(contentsOfFile: newKeyFile, encoding: .utf8) else { throw CLIError("cannot read \(newKeyFile)") }
                next = try MasterKey(hex: text)
            } catch let error as CLIError { throw error } catch { throw CLIError("--new-key-file: \(error)") }
            guard next.checkValue != current.checkValue else { throw CLIError("the new key is the current one (check value \(current.checkValue))") }
            let logger = server.logger(label: "passway-keys")
            let checkValue: String
            if let url = server.databaseURL {
                let store = try await PostgresStore(url: url, logger: logger)
                do { checkValue = try await TokenService.rotateMasterKey(store: store, from: current, to: next) } catch {
                    await store.close()
                    throw CLIError("\(error)")
                }
                await store.close()
            } else {
                let path = (dataDir as NSString).appendingPathComponent("passway.sqlite")
                guard FileManager.default.fileExists(atPath: path) else { throw CLIError("no vault at \(path)") }
                do { checkValue = try await TokenService.rotateMasterKey(store: try SQLiteStore(path: path), from: current, to: next) } catch {
                    throw CLIError("\(error)")
                }
            }
            print("the vault's keys are wrapped under the new master key (check value \(checkValue)); the old one (\(current.checkValue)) no longer opens it")
        }
    }

    static func write(_ key: MasterKey, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            if !directory.isEmpty { try SecretFile.makeDirectory(directory) }
            try SecretFile.create(path, contents: Array(key.keyFileContents().utf8))
        } catch {
            throw CLIError("\(error)")
        }
        print("master key written to \(path) (owner-only), check value \(key.checkValue)")
    }
}
