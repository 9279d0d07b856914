import Foundation
import Testing
@testable import FunctionHost

/// How the host starts its workers, checks and builds (``SpawnedProcess``): what a child gets
/// (arguments, environment, directory, streams) and what the parent learns of its end.
@Suite("Spawned processes", .timeLimit(.minutes(10)))
struct SpawnedProcessTests {
    private let shell = URL(fileURLWithPath: "/bin/sh")

    @Test("The child gets its arguments, environment, directory and standard input; its output and exit status come back")
    func whatTheChildGets() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("spawn"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let input = directory.appendingPathComponent("input")
        try Data("from stdin\n".utf8).write(to: input)
        let reading = try FileHandle(forReadingFrom: input)
        defer { try? reading.close() }
        let pipe = Pipe()
        let child = try SpawnedProcess(shell, ["-c", #"echo "$1 $GREETING"; pwd; cat; exit 3"#, "sh", "argument"],
                                       environment: ["GREETING": "hello"], currentDirectory: directory,
                                       standardInput: .descriptor(reading.fileDescriptor),
                                       standardOutput: .descriptor(pipe.fileHandleForWriting.fileDescriptor))
        try pipe.fileHandleForWriting.close()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(child.waitUntilExit() == .exited(status: 3))
        #expect(output == "argument hello\n\(directory.resolvingSymlinksInPath().path)\nfrom stdin\n")
        #expect(!child.isRunning)
        #expect(child.terminationStatus == 3)
    }

    @Test("A descriptor the parent holds open is not inherited, close-on-exec or not")
    func descriptorsAreNotInherited() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(uniqueName("spawn-fd"))
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        let held = open(file.path, O_RDONLY)  // no O_CLOEXEC: Foundation's Process had to close these itself
        defer { close(held) }
        let pipe = Pipe()
        let child = try SpawnedProcess(shell, ["-c", "ls /proc/self/fd"], standardInput: .nullDevice,
                                       standardOutput: .descriptor(pipe.fileHandleForWriting.fileDescriptor))
        try pipe.fileHandleForWriting.close()
        let listed = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n").compactMap { Int32($0) }
        child.waitUntilExit()
        // 0-2, and the descriptor `ls` itself opens to read the folder.
        #expect(listed.filter { $0 > 2 }.count == 1, "inherited: \(listed)")
    }

    @Test("A signalled child reports the signal; a missing executable is an error naming it")
    func signalsAndMissingExecutables() throws {
        let child = try SpawnedProcess(shell, ["-c", "sleep 60"], standardInput: .nullDevice)
        #expect(child.isRunning)
        child.send(SIGKILL)
        #expect(child.waitUntilExit() == .signaled(signal: SIGKILL))
        #expect(child.terminationStatus == SIGKILL)
        let missing = URL(fileURLWithPath: "/nonexistent/swiftfunc-\(uniqueName("x"))")
        #expect {
            try SpawnedProcess(missing, [])
        } throws: { error in
            "\(error)".contains(missing.path) && "\(error)".contains("No such file")
        }
    }
}
