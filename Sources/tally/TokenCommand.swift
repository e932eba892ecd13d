#if canImport(Glibc)
import Glibc
#endif
import Auth

/// `tally token`: mints a subscribe token, for operators and scripts; an admin portal's
/// backend does the same with any HS256 JWT library.
func runToken(_ arguments: [String]) -> Int32 {
    let usage = """
        usage: tally token (--token-secret S | --token-secret-file PATH) [--job ID|*] [--ttl SECONDS] [--token-audience NAME]
        Prints an HS256 subscribe token for one job (or * for all), valid for --ttl seconds (default 3600).

        """
    if arguments.contains("--help") || arguments.contains("-h") {
        printError(usage)
        return 0
    }
    do {
        let (configuration, rest) = try SecurityConfiguration.parse(arguments)
        var job = "*"
        var ttl: Int64 = 3600
        var index = 0
        while index < rest.count {
            guard index + 1 < rest.count else { printError(usage); return 64 }
            switch rest[index] {
            case "--job": job = rest[index + 1]
            case "--ttl":
                guard let seconds = Int64(rest[index + 1]), seconds > 0 else { printError("tally token: --ttl takes positive seconds\n"); return 64 }
                ttl = seconds
            default: printError(usage); return 64
            }
            index += 2
        }
        guard let tokens = try configuration.accessPolicy().tokens else {
            printError("tally token: give --token-secret or --token-secret-file\n" + usage)
            return 64
        }
        let now = Int64(time(nil))
        let audience = configuration.tokenAudience.map { [$0] } ?? []
        let token = tokens.mint(SubscribeClaims(subject: job, expiresAt: now + ttl, issuedAt: now, audience: audience))
        var line = token + "\n"
        line.withUTF8 { bytes in _ = write(1, bytes.baseAddress, bytes.count) }
        return 0
    } catch {
        printError("tally token: \(error)\n")
        return 64
    }
}
