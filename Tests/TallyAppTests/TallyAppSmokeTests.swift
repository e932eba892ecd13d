import Testing
@testable import TallyApp

@Test func TallyAppModuleLoads() {
    #expect(String(describing: TallyAppPlaceholder.self) == "TallyAppPlaceholder")
}
