#if canImport(Glibc)
import Glibc
#endif

/// `tally serve`: placeholder until the server lands.
func runServe(_ arguments: [String]) -> Int32 {
    printError("tally serve: not yet available\n")
    return 1
}
