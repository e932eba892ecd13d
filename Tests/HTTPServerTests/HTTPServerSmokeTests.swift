import Testing
@testable import HTTPServer

@Test func HTTPServerModuleLoads() {
    #expect(String(describing: HTTPServerPlaceholder.self) == "HTTPServerPlaceholder")
}
