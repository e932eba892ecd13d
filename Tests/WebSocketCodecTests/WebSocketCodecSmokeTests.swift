import Testing
@testable import WebSocketCodec

@Test func WebSocketCodecModuleLoads() {
    #expect(String(describing: WebSocketCodecPlaceholder.self) == "WebSocketCodecPlaceholder")
}
