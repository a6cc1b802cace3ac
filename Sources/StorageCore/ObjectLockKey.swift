/// The advisory-lock key for one object (`<bucket>/<name>`): upstream's djb2 string hash over
/// UTF-16 code units, as an unsigned 32-bit number, so both implementations lock the same key.
public enum ObjectLockKey {
    public static func hash(_ text: String) -> UInt32 {
        var hash: Int32 = 5381
        for unit in text.utf16 {
            hash = (hash &* 33) ^ Int32(unit)
        }
        return UInt32(bitPattern: hash)
    }
}
