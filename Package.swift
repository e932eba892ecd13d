// swift-tools-version:6.0
// Tally: a real-time progress server for data imports.
// Layers point down only (see docs/ARCHITECTURE.md): codecs import no sockets, and nothing
// imports TallyApp except the `tally` executable and tests.
import PackageDescription

// The fan-out path (loop, connection, hub, WebSocket send) runs once per subscriber per event;
// in release builds its dynamic exclusivity checks were a fifth of its user-space time
// (docs/BENCHMARKS.md). Debug builds, which the tests run, keep every check.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "Tally",
    products: [
        .executable(name: "tally", targets: ["tally"]),
    ],
    targets: [
        // C shims: declarations only, no logic.
        .target(name: "CSystem"),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // hiredis is loaded with dlopen only for `tally serve --redis`: its shim declares the
        // struct layouts and function types, and links nothing.
        .target(name: "CHiredis"),

        // Pure codecs: bytes in, values out.
        .target(name: "HTTP1Codec", exclude: ["README.md"]),
        .target(name: "WebSocketCodec", dependencies: ["CZlib", "COpenSSL"], exclude: ["README.md"], swiftSettings: hotPath),
        .target(name: "CSVCodec", exclude: ["README.md"]),

        // I/O and storage.
        .target(name: "Reactor", dependencies: ["CSystem"], exclude: ["README.md"], swiftSettings: hotPath),
        .target(name: "HTTPServer", dependencies: ["Reactor", "HTTP1Codec", "WebSocketCodec", "CZlib", "COpenSSL", "Auth"], exclude: ["README.md"], swiftSettings: hotPath),
        .target(name: "Storage", dependencies: ["CSQLite"], exclude: ["README.md"]),
        .target(name: "Postgres", dependencies: ["CLibPQ"], exclude: ["README.md"]),
        .target(name: "Auth", dependencies: ["COpenSSL"], exclude: ["README.md"]),

        // Domain.
        .target(name: "Progress", exclude: ["README.md"], swiftSettings: hotPath),
        .target(name: "Imports", dependencies: ["CSVCodec", "Storage", "Postgres", "Progress"], exclude: ["README.md"]),
        .target(name: "RedisHub", dependencies: ["Progress", "Reactor", "CHiredis"], exclude: ["README.md"]),

        // Wiring and the executable.
        .target(name: "TallyApp", dependencies: ["HTTPServer", "Imports", "Progress", "RedisHub", "Storage", "Auth"], exclude: ["README.md"], swiftSettings: hotPath),
        .executableTarget(name: "tally", dependencies: ["TallyApp", "Auth", "Imports", "Progress"]),

        .testTarget(name: "HTTP1CodecTests", dependencies: ["HTTP1Codec"]),
        .testTarget(name: "WebSocketCodecTests", dependencies: ["WebSocketCodec"]),
        .testTarget(name: "CSVCodecTests", dependencies: ["CSVCodec"], resources: [.copy("Resources")]),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "Auth"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres"]),
        .testTarget(name: "ProgressTests", dependencies: ["Progress"]),
        .testTarget(name: "RedisHubTests", dependencies: ["RedisHub", "Progress", "Reactor"]),
        .testTarget(name: "ImportsTests", dependencies: ["Imports", "Postgres"]),
        .testTarget(name: "AuthTests", dependencies: ["Auth"]),
        .testTarget(name: "TallyAppTests", dependencies: ["TallyApp"]),
    ],
    swiftLanguageModes: [.v6]
)
