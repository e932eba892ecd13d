import Testing
@testable import Imports

@Test func ImportsModuleLoads() {
    #expect(String(describing: ImportsPlaceholder.self) == "ImportsPlaceholder")
}
