import ArgumentParser
import Foundation
import Vault

/// `passway keys`: the vault master key under dual control.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Make a master key under dual control: components for two or three custodians, each with its check value.",
        subcommands: [Ceremony.self, Combine.self])

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
