import Dispatch
import Glibc

/// Blocks the calling thread until SIGINT or SIGTERM arrives.
func waitForTerminationSignal() -> Int32 {
    let arrived = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var received: Int32 = 0
    var sources: [any DispatchSourceSignal] = []
    for signalNumber in [SIGINT, SIGTERM] {
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
        source.setEventHandler {
            received = signalNumber
            arrived.signal()
        }
        source.resume()
        sources.append(source)
    }
    arrived.wait()
    sources.forEach { $0.cancel() }
    return received
}

/// Prints to standard output at once, even when it is a pipe.
func say(_ line: String) {
    print(line)
    fflush(nil)
}
