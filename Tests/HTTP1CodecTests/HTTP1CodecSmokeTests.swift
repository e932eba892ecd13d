import Testing
@testable import HTTP1Codec

@Test func HTTP1CodecModuleLoads() {
    #expect(String(describing: HTTP1CodecPlaceholder.self) == "HTTP1CodecPlaceholder")
}
