// swift-tools-version:6.0
// A function kept in its own package, outside the swiftfunc package, depending on the SDK by
// path: the way a function author's repository looks. Build it with
//   swift build --package-path Examples/Standalone
// and drop .build/debug/libStandalone.so into functions/Standalone/ with a function.json.
import PackageDescription

let package = Package(
    name: "Standalone",
    products: [
        .library(name: "Standalone", type: .dynamic, targets: ["Standalone"]),
    ],
    dependencies: [
        .package(name: "swiftfunc", path: "../.."),
    ],
    targets: [
        .target(name: "Standalone", dependencies: [.product(name: "SwiftFunctions", package: "swiftfunc")]),
    ]
)
