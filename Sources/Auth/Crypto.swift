import COpenSSL

/// The few OpenSSL primitives auth needs, with C results turned into Swift values once here.
enum Crypto {
    /// HMAC-SHA256 (RFC 2104) of `data` under `key`: 32 bytes.
    static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        // A dummy byte keeps the key pointer non-null for an empty key.
        let keyBytes = key.isEmpty ? [0] : key
        keyBytes.withUnsafeBufferPointer { keyPointer in
            data.withUnsafeBufferPointer { dataPointer in
                digest.withUnsafeMutableBufferPointer { out in
                    _ = HMAC(EVP_sha256(), keyPointer.baseAddress, Int32(key.count),
                             dataPointer.baseAddress, dataPointer.count, out.baseAddress, &length)
                }
            }
        }
        return Array(digest.prefix(Int(length)))
    }

    /// SHA-256 of `data`: 32 bytes.
    static func sha256(_ data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        data.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { out in
                _ = SHA256(input.baseAddress, input.count, out.baseAddress)
            }
        }
        return digest
    }

    /// Random bytes from OpenSSL's CSPRNG, or nil if it cannot seed (never silently weak).
    static func randomBytes(_ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let ok = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        return ok == 1 ? bytes : nil
    }
}

/// Compares two byte strings in time that depends only on their lengths, never on where they
/// first differ, so a remote caller cannot find a secret byte by byte by timing answers.
public func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in lhs.indices {
        difference |= lhs[index] ^ rhs[index]
    }
    return difference == 0
}
