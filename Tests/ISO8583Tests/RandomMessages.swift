@testable import ISO8583
import TestSupport

/// Valid random messages drawn from the spec itself: any subset of fields, each value
/// of its type and a legal length.
enum RandomMessages {
    static let printable: [UInt8] = Array(0x20...0x7E)
    static let alphanumeric: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ".utf8)

    static func message(_ rng: inout SplitMix64, spec: MessageSpec = .passway1987) -> Message {
        var message = Message(mti: String((0..<4).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) }))
        let fields = spec.definedFields
        let count = [1, 3, 8, 20, Int.random(in: 1...fields.count, using: &rng)].randomElement(using: &rng)!
        for field in fields.shuffled(using: &rng).prefix(count) {
            message[field] = value(spec[field]!, &rng)
        }
        return message
    }

    static func value(_ spec: FieldSpec, _ rng: inout SplitMix64) -> [UInt8] {
        let n: Int
        switch spec.length {
        case .fixed(let k): n = k
        case .llvar(let max), .lllvar(let max): n = [0, 1, max, Int.random(in: 0...max, using: &rng)].randomElement(using: &rng)!
        }
        return (0..<n).map { i in
            switch spec.type {
            case .binary: UInt8.random(in: 0...255, using: &rng)
            case .numeric: UInt8.random(in: 0x30...0x39, using: &rng)
            case .alphanumeric: alphanumeric.randomElement(using: &rng)!
            case .alphanumericSpecial: printable.randomElement(using: &rng)!
            case .track: Array("0123456789=D".utf8).randomElement(using: &rng)!
            case .signedAmount: i == 0 ? Array("CD".utf8).randomElement(using: &rng)! : UInt8.random(in: 0x30...0x39, using: &rng)
            }
        }
    }
}
