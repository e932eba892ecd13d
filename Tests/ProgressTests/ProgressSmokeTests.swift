import Testing
@testable import Progress

@Test func ProgressModuleLoads() {
    #expect(String(describing: ProgressPlaceholder.self) == "ProgressPlaceholder")
}
