// The `tally` executable: one binary, several subcommands. Each subcommand lives in its own
// file (`ServeCommand.swift`, `ImportCommand.swift`, ...) and is listed here once.
#if canImport(Glibc)
import Glibc
#endif

/// A subcommand: its name, a one-line summary for `tally help`, and its entry point, which
/// receives the arguments after the subcommand name and returns the process exit code.
struct Subcommand {
    let name: String
    let summary: String
    let run: ([String]) -> Int32
}

/// Writes a message to standard error (fd 2) without touching C's shared `stderr` stream.
func printError(_ message: String) {
    var text = message
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

let subcommands: [Subcommand] = [
    Subcommand(name: "serve", summary: "run the progress server with the dashboard", run: runServe),
    Subcommand(name: "import", summary: "import a CSV file locally with a progress bar", run: runImport),
    Subcommand(name: "bench", summary: "benchmark the import engine (bench import)", run: runBench),
    Subcommand(name: "token", summary: "mint a subscribe token for one job or all", run: runToken),
    Subcommand(name: "watch", summary: "follow a job on a server with a progress bar", run: runWatch),
]

func printUsage(_ subcommands: [Subcommand]) {
    var text = "usage: tally <command> [options]\n\ncommands:\n"
    for command in subcommands {
        text += "  " + command.name + String(repeating: " ", count: max(1, 10 - command.name.count)) + command.summary + "\n"
    }
    text += "\nRun `tally <command> --help` for the options of one command.\n"
    printError(text)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first, name != "help", name != "--help", name != "-h" else {
    printUsage(subcommands)
    exit(arguments.isEmpty ? 64 : 0)
}
guard let command = subcommands.first(where: { $0.name == name }) else {
    printError("tally: unknown command '\(name)'\n")
    printUsage(subcommands)
    exit(64)
}
exit(command.run(Array(arguments.dropFirst())))
