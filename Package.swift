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
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
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
        .target(name: "IPM"),
        // EMVCo QR codes (QRCPS), merchant-presented: no dependency.
        .target(name: "EMVQR", dependencies: ["EMV"]),
        .target(name: "Clearing", dependencies: ["IPM", "ISO8583", "Participants", "NetworkSwitch"]),
        .target(name: "Vault", dependencies: ["EMV", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Participants", dependencies: ["EMV", "Vault", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "IssuerContract", dependencies: ["EMV", "Vault", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "APIContract", dependencies: ["IssuerContract", "Participants", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "TokenService", dependencies: ["EMV", "Vault", "Participants", "IssuerContract", "APIContract",
                                                     .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")]),
        .target(name: "WalletProvider", dependencies: ["TokenService", "Participants", "IssuerContract", "APIContract", "EMV", "Vault",
                                                       .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "NetworkSwitch", dependencies: ["ISO8583", "EMV", "TokenService", "Participants", .product(name: "Logging", package: "swift-log"),
                                                      .product(name: "CoreMetrics", package: "swift-metrics")]),
        .target(
            name: "ISO8583Transport",
            dependencies: [
                "ISO8583",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // A private CA and participants' certificates for a laptop setup (`passway pki`).
        .target(name: "PKI", dependencies: ["Vault", .product(name: "X509", package: "swift-certificates"),
                                            .product(name: "SwiftASN1", package: "swift-asn1"), .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "Simulators",
            dependencies: ["EMV", "EMVQR", "ISO8583", "ISO8583Transport", "APIContract", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
                           .product(name: "Histogram", package: "hdrhistogram-swift"), .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")]
        ),
        .target(name: "DurableLog", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
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
            dependencies: ["Participants", "TokenService", "WalletProvider", "NetworkSwitch", "Clearing", "SQLiteSupport", "PostgresSupport", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        .target(
            name: "IssuerHost",
            dependencies: ["EMV", "ISO8583", "IPM", "Vault", "IssuerContract", "SQLiteSupport", "PostgresSupport", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "HTTPSupport",
            dependencies: [
                "SQLiteSupport", "PostgresSupport", "Vault",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .target(
            name: "IssuerHostServer",
            dependencies: [
                "IssuerHost", "IssuerContract", "HTTPSupport", "ISO8583Transport", "PostgresSupport", "Vault", "EMV",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("issuer-host-openapi.yaml")]
        ),
        .target(
            name: "PasswayServer",
            dependencies: [
                "EMV", "ISO8583", "Vault", "Participants", "IssuerContract", "APIContract", "TokenService", "WalletProvider", "Storage",
                "NetworkSwitch", "Clearing", "ISO8583Transport", "PostgresSupport", "HTTPSupport", "IssuerHostServer", "EMVQR",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            resources: [.copy("openapi.yaml"), .copy("Console")]
        ),
        .executableTarget(
            name: "passway",
            dependencies: [
                "EMV", "ISO8583", "APIContract", "Clearing", "PasswayServer", "Simulators", "ISO8583Transport", "NetworkSwitch", "PostgresSupport",
                "SQLiteSupport", "IssuerHost", "IssuerHostServer", "PKI", "Participants", "EMVQR",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Tests follow the modules; shared fixtures (a platform on free ports, stores on
        // both backends, the Russian bank scenario) are in one support target.
        .target(
            name: "TestSupport",
            dependencies: [
                "EMV", "ISO8583", "Vault", "Participants", "IssuerContract", "APIContract", "TokenService", "WalletProvider", "NetworkSwitch", "Clearing",
                "IssuerHost", "Storage", "PostgresSupport", "PasswayServer", "Simulators", "ISO8583Transport", "PKI",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/TestSupport"
        ),
        .testTarget(name: "EMVTests", dependencies: ["EMV", "EMVQR", "TestSupport"]),
        .testTarget(name: "ISO8583Tests", dependencies: ["ISO8583", "EMV", "TestSupport"]),
        .testTarget(name: "ISO8583TransportTests", dependencies: ["ISO8583Transport", "ISO8583", "TestSupport",
                                                                  .product(name: "NIOCore", package: "swift-nio"),
                                                                  .product(name: "Logging", package: "swift-log"),
                                                                  .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),
        .testTarget(name: "VaultTests", dependencies: ["Vault", "TestSupport"]),
        .testTarget(name: "ParticipantsTests", dependencies: ["Participants", "TestSupport"]),
        .testTarget(name: "ClearingTests", dependencies: ["Clearing", "TestSupport", "NetworkSwitch", "ISO8583"]),
        .testTarget(name: "TokenServiceTests", dependencies: ["TokenService", "Participants", "APIContract", "IssuerContract", "EMV", "Vault", "Simulators",
                                                              "TestSupport", .product(name: "Crypto", package: "swift-crypto"),
                                                              .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "WalletProviderTests", dependencies: ["WalletProvider", "TokenService", "Participants", "IssuerContract", "Simulators",
                                                                "TestSupport"]),
        .testTarget(name: "NetworkSwitchTests", dependencies: ["NetworkSwitch", "TokenService", "Participants", "ISO8583", "EMV", "Simulators",
                                                               "TestSupport", .product(name: "Logging", package: "swift-log"),
                                                               .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "IssuerHostTests", dependencies: ["IssuerHost", "IPM", "IssuerContract", "ISO8583", "EMV", "Vault", "TestSupport",
                                                            .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "SQLiteSupport", "DurableLog", "PostgresSupport", "NetworkSwitch", "Clearing", "TokenService", "Participants",
                                                         "HTTPSupport", "ISO8583", "TestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                                                         .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "PasswayServerTests",
            dependencies: [
                "PasswayServer", "IssuerHostServer", "IssuerContract", "TokenService", "Storage", "EMV", "ISO8583", "NetworkSwitch", "Clearing", "TestSupport",
                "ISO8583Transport", "Simulators", "APIContract", "SQLiteSupport", "PKI", "Participants", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "PasswayCLITests", dependencies: ["passway", "TestSupport", "EMV", "ISO8583", "ISO8583Transport", "Simulators", "Storage", "Clearing",
                                                            "PostgresSupport", "TokenService", "Vault", "APIContract", .product(name: "Crypto", package: "swift-crypto"),
                                                            .product(name: "Logging", package: "swift-log"),
                                                            .product(name: "GRDB", package: "GRDB.swift")]),
    ],
    swiftLanguageModes: [.v6]
)
