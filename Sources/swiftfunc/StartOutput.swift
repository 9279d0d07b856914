import ArgumentParser
import Foundation
import FunctionHost
import Glibc
import Logging

/// What `swiftfunc start` prints on standard output beside its log (the banner, the endpoint's
/// address, the stop lines): plain lines, or with host.json `logging.format: json` one JSON object
/// a line in the log's own shape (`time`, `level`, `message` and fields such as `function`), so
/// that every line the host writes parses as JSON.
struct StartOutput: Sendable {
    let format: OperationsConfiguration.LogFormat

    func say(_ line: String, _ fields: Logger.Metadata = [:]) {
        if format == .json {
            print(ConsoleLogHandler.jsonLine(level: .info, message: line, metadata: fields), terminator: "")
        } else {
            print(line)
        }
        fflush(nil)
    }

    /// A start-up failure the user must fix (a port in use, no function that can start, a
    /// configuration error in the worker): said once through `logger`, in the log's format, without
    /// the usage text ArgumentParser prints for a mistake on the command line. Exit 64, which the
    /// supervisor does not restart.
    func refusal(_ message: String, logger: Logger) -> ExitCode {
        logger.error("\(message)")
        return ExitCode(HostSupervisor.configurationErrorStatus)
    }
}
