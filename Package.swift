// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Passway",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "passway", targets: ["passway"]),
        .library(name: "EMV", targets: ["EMV"]),
        .library(name: "ISO8583", targets: ["ISO8583"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        .target(
            name: "EMV",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(name: "ISO8583", dependencies: ["EMV"]),
        .executableTarget(
            name: "passway",
            dependencies: [
                "EMV", "ISO8583",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "EMVTests", dependencies: ["EMV", "TestSupport"]),
        .testTarget(name: "ISO8583Tests", dependencies: ["ISO8583", "EMV", "TestSupport"]),
        .testTarget(name: "PasswayCLITests", dependencies: ["passway", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
