#if canImport(Glibc)
import Glibc
#endif
import Imports
import TallyApp

private let watchUsage = """
    usage: tally watch ID [--server URL] [--token T]

    Follows a job on a running server over WebSocket with the same progress bar as
    `tally import`, until the job finishes. A dropped connection is resumed from the last
    event seen, so nothing is missed.
      --server URL   the server (default http://127.0.0.1:8080)
      --token T      a subscribe token or API key
    Exit status: 0 completed, 1 failed, 130 cancelled, 2 refused or unreachable, 64 usage error.

    """

/// `tally watch ID`: a terminal progress bar for a job running on a server.
func runWatch(_ arguments: [String]) -> Int32 {
    var job: String?
    var serverText = "http://127.0.0.1:8080"
    var token: String?
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        switch argument {
        case "-h", "--help":
            printError(watchUsage)
            return 0
        case "--server":
            guard let value = iterator.next() else {
                printError("tally watch: --server needs a URL\n")
                return 64
            }
            serverText = value
        case "--token":
            guard let value = iterator.next() else {
                printError("tally watch: --token needs a value\n")
                return 64
            }
            token = value
        default:
            guard job == nil, !argument.hasPrefix("-") else {
                printError("tally watch: unexpected argument '\(argument)'\n" + watchUsage)
                return 64
            }
            job = argument
        }
    }
    guard let job else {
        printError(watchUsage)
        return 64
    }
    guard let server = ServerURL(serverText) else {
        printError("tally watch: '\(serverText)' is not an http:// or ws:// URL\n")
        return 64
    }
    let progress = TerminalProgress()
    let watcher = JobWatcher(server: server, job: job, token: token)
    let outcome = watcher.run(show: { progress.show($0) }, note: { note in
        progress.finish()
        printError("tally watch: \(note)\n")
    })
    progress.finish()
    switch outcome {
    case .finished(.completed):
        return 0
    case .finished(.cancelled):
        return 130
    case .finished:
        return 1
    case .refused(let why):
        printError("tally watch: \(why)\n")
        return 2
    case .unreachable(let why):
        printError("tally watch: cannot follow the job: \(why)\n")
        return 2
    }
}
