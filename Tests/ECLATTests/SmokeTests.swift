import Testing
import ECLAT
import HikeVM

@Test func smoke() throws {
    #expect(try Support.value("return 42") == 42)
    #expect(try Support.value("u8 : x = 250\nx += 10\nreturn x") == 4)
    #expect(try Support.value("u64 : r = test_add(3, 4)\nreturn r") == 7)
}
