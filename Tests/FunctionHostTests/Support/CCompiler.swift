import Foundation

/// Builds a function library from C sources with `cc -shared`, as a C author would.
enum CCompiler {
    static func sharedLibrary(_ sources: [URL], named name: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("cc"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let library = directory.appendingPathComponent("lib\(name).so")
        try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror",
            "-I", TestPaths.packageRoot.appendingPathComponent("Sources/FunctionABI/include").path,
            "-o", library.path] + sources.map(\.path))
        return library
    }

    /// Writes `code` to a file and builds it.
    static func sharedLibrary(code: String, named name: String) throws -> URL {
        let source = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("src") + ".c")
        try Data(code.utf8).write(to: source)
        return try sharedLibrary([source], named: name)
    }
}
