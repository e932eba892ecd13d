import Testing
@testable import CSVCodec

@Test func CSVCodecModuleLoads() {
    #expect(String(describing: CSVCodecPlaceholder.self) == "CSVCodecPlaceholder")
}
