#if canImport(Glibc)
import Glibc
#endif
import Auth
import TallyApp

private let serveUsage = """
usage: tally serve [options]

Serves the dashboard and the API until SIGINT or SIGTERM, then shuts down gracefully.

options:
  --host ADDR              address to listen on (default 127.0.0.1; 0.0.0.0 for all)
  --port N                 port (default 8080; 0 picks a free one)
  --loops N                event-loop threads (default: one per core)
  --web DIR                dashboard files (default ./web)
  --data DIR               data directory, created if missing (default ./tally-data)
  --idle-timeout S         seconds a keep-alive connection may idle (default 60)
  --header-timeout S       seconds to receive a request head (default 10)
  --body-timeout S         seconds a request body may stall (default 30)
  --shutdown-grace S       seconds to finish in-flight work on shutdown (default 5)
  --max-body BYTES         default request body limit (default 1048576)
  --echo                   serve the WebSocket echo endpoint /ws/echo (conformance tests)
  --log-level LEVEL        debug, info, warn or error (default info)
  --max-connections-per-address N
                           connections one client address may hold (default 256; 0: no limit)
  --max-connections N      connections in total before shedding with 503 (default 10000)
  -h, --help               this help

scale-out (README, "Running several nodes"):
  --sink URL               imports write into PostgreSQL (postgres://USER@HOST:PORT/DB; the
                           password in PGPASSWORD) instead of the embedded SQLite store
  --redis URL              share progress with other nodes through Redis (redis://HOST:PORT/DB,
                           redis://:PASSWORD@HOST:PORT/DB or redis://USER:PASSWORD@…;
                           needs libhiredis0.14)
  --node-id NAME           this node's name in import leases (default: kept in the data dir)
  --lease S                seconds an import's lease outlives its node's last commit before
                           another node takes the import over (default 15)
  --spool DIR              where uploads are kept (default DATA/uploads); give every node the
                           same shared directory so that one can finish another's imports

security (docs/SECURITY.md):
\(SecurityConfiguration.usage)

API limits:
\(APIConfiguration.usage)
"""

/// `tally serve`: runs the server until SIGINT/SIGTERM.
func runServe(_ allArguments: [String]) -> Int32 {
    var configuration = TallyConfiguration()
    let afterSecurity: [String]
    do {
        (configuration.security, afterSecurity) = try SecurityConfiguration.parse(allArguments)
    } catch {
        printError("tally serve: \(error.description)\n")
        return 64
    }
    let arguments: [String]
    do {
        (configuration.api, arguments) = try APIConfiguration.parse(afterSecurity)
    } catch {
        printError("tally serve: \(error.description)\n")
        return 64
    }
    var level = Logger.Level.info
    var index = 0
    func value(_ flag: String) -> String? {
        index += 1
        guard index < arguments.count else {
            printError("tally serve: \(flag) needs a value\n")
            return nil
        }
        return arguments[index]
    }
    func seconds(_ flag: String) -> UInt64? {
        guard let text = value(flag), let number = Double(text), number > 0, number < 1e7 else {
            printError("tally serve: \(flag) needs a positive number of seconds\n")
            return nil
        }
        return UInt64(number * 1000)
    }
    while index < arguments.count {
        let argument = arguments[index]
        switch argument {
        case "-h", "--help":
            printError(serveUsage)
            return 0
        case "--host":
            guard let text = value(argument) else { return 64 }
            configuration.server.host = text
        case "--port":
            guard let text = value(argument), let port = Int(text), (0...65535).contains(port) else {
                printError("tally serve: --port needs a number from 0 to 65535\n")
                return 64
            }
            configuration.server.port = port
        case "--loops":
            guard let text = value(argument), let loops = Int(text), (1...256).contains(loops) else {
                printError("tally serve: --loops needs a number from 1 to 256\n")
                return 64
            }
            configuration.server.loopCount = loops
        case "--web":
            guard let text = value(argument) else { return 64 }
            configuration.webRoot = text
        case "--data":
            guard let text = value(argument) else { return 64 }
            configuration.dataDirectory = text
        case "--sink":
            guard let text = value(argument) else { return 64 }
            configuration.api.sink = text
        case "--redis":
            guard let text = value(argument) else { return 64 }
            configuration.api.redisURL = text
        case "--lease":
            guard let text = value(argument), let seconds = Int(text), (1...3600).contains(seconds) else {
                printError("tally serve: --lease needs a number of seconds from 1 to 3600\n")
                return 64
            }
            configuration.api.leaseSeconds = seconds
        case "--spool":
            guard let text = value(argument), !text.isEmpty else { return 64 }
            configuration.api.spoolDirectory = text
        case "--node-id":
            guard let text = value(argument), !text.isEmpty else { return 64 }
            configuration.api.nodeID = text
        case "--idle-timeout":
            guard let milliseconds = seconds(argument) else { return 64 }
            configuration.server.idleTimeoutMilliseconds = milliseconds
        case "--header-timeout":
            guard let milliseconds = seconds(argument) else { return 64 }
            configuration.server.headerTimeoutMilliseconds = milliseconds
        case "--body-timeout":
            guard let milliseconds = seconds(argument) else { return 64 }
            configuration.server.bodyTimeoutMilliseconds = milliseconds
        case "--shutdown-grace":
            guard let milliseconds = seconds(argument) else { return 64 }
            configuration.server.shutdownGraceMilliseconds = milliseconds
        case "--max-body":
            guard let text = value(argument), let bytes = Int(text), bytes >= 0 else {
                printError("tally serve: --max-body needs a number of bytes\n")
                return 64
            }
            configuration.server.limits.maxBodyBytes = bytes
        case "--max-connections-per-address", "--max-connections":
            guard let text = value(argument), let count = Int(text), count >= 0 else {
                printError("tally serve: \(argument) needs a number (0: no limit)\n")
                return 64
            }
            if argument == "--max-connections" {
                configuration.server.maxConnections = count
            } else {
                configuration.server.maxConnectionsPerAddress = count
            }
        case "--echo":
            configuration.echo = true
        case "--log-level":
            guard let text = value(argument) else { return 64 }
            switch text {
            case "debug": level = .debug
            case "info": level = .info
            case "warn", "warning": level = .warning
            case "error": level = .error
            default:
                printError("tally serve: unknown log level '\(text)'\n")
                return 64
            }
        default:
            printError("tally serve: unknown option '\(argument)'\n" + serveUsage)
            return 64
        }
        index += 1
    }

    // Signals are blocked before any thread starts so that every thread inherits the mask
    // and only the signalfd below sees them.
    do throws(TLSError) {
        configuration.server.tls = try configuration.security.tlsContext()
    } catch {
        printError("tally serve: \(error.description)\n")
        return 1
    }
    let policy: AccessPolicy
    do throws(AuthConfigurationError) {
        policy = try configuration.security.accessPolicy()
    } catch {
        printError("tally serve: \(error.description)\n")
        return 64
    }
    for warning in StartupCheck.warnings(bindHost: configuration.server.host, policy: policy, tlsEnabled: configuration.server.tls != nil) {
        printError("\n" + warning + "\n\n")
    }
    raiseDescriptorLimit()

    TerminationSignals.block()
    let logger = Logger.standardError(level: level)
    let application: TallyApplication
    let port: Int
    do {
        application = try TallyApplication(configuration: configuration, logger: logger)
        port = try application.start()
    } catch {
        printError("tally serve: \(error.description)\n")
        return 1
    }
    let shownHost = configuration.server.host.contains(":") ? "[\(configuration.server.host)]" : configuration.server.host
    let scheme = configuration.server.tls == nil ? "http" : "https"
    var line = "tally: listening on \(scheme)://\(shownHost):\(port)\n"
    line.withUTF8 { bytes in _ = write(1, bytes.baseAddress, bytes.count) }
    let signal = TerminationSignals.wait()
    logger.info("server.shutdown", ["signal": signal == SIGINT ? "SIGINT" : "SIGTERM"])
    application.shutdown()
    return 0
}

/// Raises the soft descriptor limit to the hard one: every connection is a descriptor, and
/// the usual soft limit of 1024 would refuse clients long before the connection limits do.
func raiseDescriptorLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}
