// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "storage-api",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "storage-api", targets: ["storage-api"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // OTLP over HTTP only: the gRPC trait would link grpc-swift and nearly double the build.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // Text formats on the wire: JSON string literals, HTTP dates, hexadecimal.
        .target(name: "WireFormats", swiftSettings: swiftSettings),
        // Domain: models, validation rules, the error catalogue and pure parsers. No I/O.
        .target(
            name: "StorageCore",
            dependencies: [
                "WireFormats",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // JWT verification, roles, signed-URL tokens.
        .target(
            name: "Auth",
            dependencies: [
                "StorageCore", "WireFormats",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // Spans (swift-distributed-tracing) tagged with the ids of the work they belong to, and
        // the loggers background jobs use. No exporter: the process wires one when tracing is on.
        .target(
            name: "Telemetry",
            dependencies: [
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Postgres: pool, per-request RLS transaction, migrations runner, queries.
        .target(
            name: "Database",
            dependencies: [
                "Telemetry",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                "StorageCore", "WireFormats",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Migrations"), .copy("ProjectMigrations")],
            swiftSettings: swiftSettings
        ),
        // AWS Signature V4 and a streaming S3 client on async-http-client.
        .target(
            name: "S3",
            dependencies: [
                "Telemetry",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                "WireFormats",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Linux file calls Swift's Glibc module does not import (xattrs, copy_file_range).
        .target(name: "CFileSystem"),
        // MD5 with a state that can be stored between a resumable upload's chunks. Optimised even
        // in debug builds: it hashes every byte of file-mode resumable uploads.
        .target(name: "CDigest", cSettings: [.unsafeFlags(["-O2"])]),
        // Process-wide C settings Swift's Glibc module does not import (malloc tuning).
        .target(name: "CProcess"),
        // libvips from Debian's libvips-dev, and non-variadic C wrappers Swift can call.
        .systemLibrary(name: "CVips", pkgConfig: "vips", providers: [.apt(["libvips-dev"])]),
        .target(name: "CVipsShim", dependencies: ["CVips"]),
        // Image decoding, resizing and encoding on libvips, on a bounded pool of worker threads.
        .target(
            name: "ImageTransform",
            dependencies: [
                "CVipsShim",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Where bytes live, as the use cases see it: the ObjectStore protocol, its values and errors.
        .target(
            name: "ObjectStore",
            dependencies: [
                "StorageCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // STORAGE_MODE=file: objects as files under one directory.
        .target(
            name: "FileBackend",
            dependencies: [
                "ObjectStore", "StorageCore", "CFileSystem", "CDigest", "WireFormats",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The S3 protocol front (`/s3`): request authentication and the wire formats clients speak.
        .target(
            name: "S3Protocol",
            dependencies: [
                "S3", "WireFormats", "CDigest", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // STORAGE_MODE=self-hosted|cloud: objects in an S3 bucket, through the project's S3 client.
        .target(
            name: "S3Backend",
            dependencies: [
                "ObjectStore", "StorageCore", "S3",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Processing: the configuration, the pipeline state machine and the steps' own parts
        // (content sniffing, the clamd client). No database, no backend.
        .target(
            name: "Processing",
            dependencies: [
                "StorageCore",
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Use cases: upload, download, list, copy, move, delete, buckets. Talks to Database and ObjectStore.
        .target(
            name: "StorageService",
            dependencies: [
                "Telemetry",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                "StorageCore", "Auth", "Database", "ObjectStore", "ImageTransform", "Processing", "WireFormats",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Events: delivery of the outbox to webhooks (claims, retries, signatures).
        .target(
            name: "Events",
            dependencies: [
                "Telemetry",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                "Database", "StorageCore", "WireFormats",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTTP: routes, request parsing, responses and the error envelope.
        .target(
            name: "StorageAPI",
            dependencies: [
                "Telemetry",
                "StorageCore", "Auth", "ObjectStore", "StorageService", "WireFormats",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The running process: configuration from the environment and wiring of every service.
        .target(
            name: "S3API",
            dependencies: [
                "StorageCore", "ObjectStore", "StorageService", "StorageAPI", "S3Protocol", "S3", "WireFormats",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StorageServer",
            dependencies: [
                "Telemetry",
                "StorageCore", "Auth", "Database", "ObjectStore", "FileBackend", "S3Backend", "S3", "StorageService", "Events",
                "StorageAPI", "S3API", "WireFormats", "Processing",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                "ImageTransform",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "storage-api",
            dependencies: [
                "StorageServer", "StorageService", "CProcess",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // Scratch databases for the integration tests (TEST_DATABASE_URL).
        .target(
            name: "TestSupport",
            dependencies: [
                "Database",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "StorageCoreTests", dependencies: ["StorageCore"], swiftSettings: swiftSettings),
        .testTarget(name: "EventsTests", dependencies: ["Events", "StorageCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ProcessingTests",
            dependencies: ["Processing", "StorageCore", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StorageServiceTests",
            dependencies: [
                "StorageService", "StorageCore", "Auth", "Database", "ObjectStore", "FileBackend", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ImageTransformTests",
            dependencies: ["ImageTransform", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuthTests",
            dependencies: [
                "Auth", "StorageCore", "WireFormats",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DatabaseTests",
            dependencies: ["Database", "StorageCore", "TestSupport", .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ObjectStoreTests", dependencies: ["ObjectStore", "FileBackend", "S3Backend", "StorageCore", "S3"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "S3Tests",
            dependencies: ["S3", "WireFormats", .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "S3ProtocolTests",
            dependencies: ["S3Protocol", "S3", "WireFormats", .product(name: "NIOCore", package: "swift-nio")], swiftSettings: swiftSettings),
        .testTarget(
            name: "StorageAPITests",
            dependencies: [
                "StorageServer", "StorageAPI", "StorageCore", "Auth", "TestSupport", "WireFormats",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
