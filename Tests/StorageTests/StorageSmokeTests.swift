import Testing
@testable import Storage

@Test func StorageModuleLoads() {
    #expect(String(describing: StoragePlaceholder.self) == "StoragePlaceholder")
}
