#if canImport(Glibc)
import Glibc
#endif

/// `tally import`: placeholder until the import engine lands.
func runImport(_ arguments: [String]) -> Int32 {
    printError("tally import: not yet available\n")
    return 1
}
