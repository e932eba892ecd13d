import COpenSSL

/// A throwaway certificate and key (ECDSA P-256, SHA-256) for tests and local development,
/// made with OpenSSL's API so nothing depends on the `openssl` command being installed.
/// Never for production: nobody but its holder trusts it.
public struct SelfSignedCertificate: Sendable {
    /// The certificate, PEM.
    public let certificatePEM: String
    /// The unencrypted PKCS#8 private key, PEM.
    public let privateKeyPEM: String

    /// Generates a certificate for `commonName`, valid from an hour ago (clock skew) for
    /// `days`, with subject alternative names so hostname checks pass (RFC 6125).
    public static func generate(commonName: String = "localhost",
                                alternativeNames: String = "DNS:localhost,IP:127.0.0.1",
                                days: Int = 1) throws(TLSError) -> SelfSignedCertificate {
        guard let keyContext = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw TLSError.fromQueue(.setupFailed, "no EC key support")
        }
        defer { EVP_PKEY_CTX_free(keyContext) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(keyContext) == 1,
              EVP_PKEY_CTX_set_group_name(keyContext, "P-256") == 1,
              EVP_PKEY_keygen(keyContext, &key) == 1, let key else {
            throw TLSError.fromQueue(.setupFailed, "key generation failed")
        }
        defer { EVP_PKEY_free(key) }
        guard let certificate = X509_new() else { throw TLSError.fromQueue(.setupFailed, "X509_new failed") }
        defer { X509_free(certificate) }
        let serial = Int(Crypto.randomBytes(4).map { $0.reduce(0) { $0 << 8 | Int($1) } } ?? 1) & 0x7FFF_FFFF
        guard X509_set_version(certificate, 2) == 1,
              ASN1_INTEGER_set(X509_get_serialNumber(certificate), serial) == 1,
              X509_gmtime_adj(X509_getm_notBefore(certificate), -3600) != nil,
              X509_gmtime_adj(X509_getm_notAfter(certificate), days * 86_400) != nil,
              X509_set_pubkey(certificate, key) == 1,
              let name = X509_get_subject_name(certificate),
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, commonName, -1, -1, 0) == 1,
              X509_set_issuer_name(certificate, name) == 1 else {
            throw TLSError.fromQueue(.setupFailed, "cannot fill in the certificate")
        }
        for (nid, value) in [(NID_subject_alt_name, alternativeNames), (NID_basic_constraints, "critical,CA:TRUE")] {
            guard let extensionValue = X509V3_EXT_conf_nid(nil, nil, nid, value) else {
                throw TLSError.fromQueue(.setupFailed, "bad certificate extension '\(value)'")
            }
            defer { X509_EXTENSION_free(extensionValue) }
            guard X509_add_ext(certificate, extensionValue, -1) == 1 else {
                throw TLSError.fromQueue(.setupFailed, "cannot add extension '\(value)'")
            }
        }
        guard X509_sign(certificate, key, EVP_sha256()) > 0 else {
            throw TLSError.fromQueue(.setupFailed, "signing failed")
        }
        guard let certificateBIO = BIO_new(BIO_s_mem()) else { throw TLSError.fromQueue(.setupFailed, "BIO_new failed") }
        defer { BIO_free(certificateBIO) }
        guard let keyBIO = BIO_new(BIO_s_mem()) else { throw TLSError.fromQueue(.setupFailed, "BIO_new failed") }
        defer { BIO_free(keyBIO) }
        guard PEM_write_bio_X509(certificateBIO, certificate) == 1,
              PEM_write_bio_PrivateKey(keyBIO, key, nil, nil, 0, nil, nil) == 1 else {
            throw TLSError.fromQueue(.setupFailed, "cannot write PEM")
        }
        return SelfSignedCertificate(certificatePEM: PEM.drain(certificateBIO), privateKeyPEM: PEM.drain(keyBIO))
    }
}
