import Dispatch
import Glibc

/// Keeps the signal sources alive for the life of the process.
nonisolated(unsafe) private var signalSources: [any DispatchSourceSignal] = []

/// Calls `handler` (on a background queue) for every SIGINT and SIGTERM from now on.
func onTerminationSignal(_ handler: @escaping @Sendable (Int32) -> Void) {
    for signalNumber in [SIGINT, SIGTERM] {
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
        source.setEventHandler { handler(signalNumber) }
        source.resume()
        signalSources.append(source)
    }
}

/// Blocks the calling thread until SIGINT or SIGTERM arrives; later ones are ignored.
func waitForTerminationSignal() -> Int32 {
    let arrived = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var received: Int32 = 0
    onTerminationSignal { signalNumber in
        if received == 0 {
            received = signalNumber
            arrived.signal()
        }
    }
    arrived.wait()
    return received
}

/// Prints to standard output at once, even when it is a pipe.
func say(_ line: String) {
    print(line)
    fflush(nil)
}
