import Testing
@testable import Reactor

@Test func ReactorModuleLoads() {
    #expect(String(describing: ReactorPlaceholder.self) == "ReactorPlaceholder")
}
