/// This build's version: the one place it is written. `swiftfunc --version`, the start banner and
/// the `swiftfunc_build_info` metric all say it. Raise it with each release.
public let swiftfuncVersion = "0.1.0"
