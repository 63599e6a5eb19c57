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
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
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
        .target(name: "Vault", dependencies: ["EMV", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "TokenService", dependencies: ["EMV", "Vault", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Wallet", dependencies: ["TokenService", "EMV", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "NetworkSwitch", dependencies: ["ISO8583", "EMV", "TokenService", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "ISO8583Transport",
            dependencies: [
                "ISO8583",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Simulators",
            dependencies: ["EMV", "ISO8583", "ISO8583Transport", "Wallet", .product(name: "Logging", package: "swift-log"),
                           .product(name: "Histogram", package: "hdrhistogram-swift"), .product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(name: "SQLiteSupport", dependencies: [.product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift")]),
        .target(
            name: "PostgresSupport",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Storage",
            dependencies: ["TokenService", "NetworkSwitch", "SQLiteSupport", "PostgresSupport", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        .target(
            name: "IssuerHost",
            dependencies: ["EMV", "ISO8583", "Vault", "SQLiteSupport", "PostgresSupport", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        .target(
            name: "PasswayServer",
            dependencies: [
                "EMV", "ISO8583", "Vault", "TokenService", "Wallet", "Storage", "IssuerHost", "NetworkSwitch", "ISO8583Transport", "PostgresSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            resources: [.copy("openapi.yaml")]
        ),
        .executableTarget(
            name: "passway",
            dependencies: [
                "EMV", "ISO8583", "PasswayServer", "Wallet", "TokenService", "Simulators", "ISO8583Transport", "NetworkSwitch", "PostgresSupport",
                "SQLiteSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "EMVTests", dependencies: ["EMV", "TestSupport"]),
        .testTarget(name: "ISO8583Tests", dependencies: ["ISO8583", "EMV", "TestSupport"]),
        .testTarget(name: "PasswayCLITests", dependencies: ["passway", "TestSupport"]),
        .testTarget(
            name: "PasswayServerTests",
            dependencies: [
                "PasswayServer", "TokenService", "Wallet", "Storage", "IssuerHost", "Vault", "EMV", "ISO8583", "NetworkSwitch", "TestSupport",
                "ISO8583Transport", "Simulators", "SQLiteSupport", "PostgresSupport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
