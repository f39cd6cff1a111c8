// Throwaway certificates for tests and for `dbxserve-emulator --generate-pki`.
//
// Everything is generated in memory with the OpenSSL 3 API (EC P-256 keys, SHA-256
// signatures) and written as PEM, so no `openssl` binary is needed on the test host.
#pragma once

#include <string>
#include <vector>

namespace dbxserve::emulator {

struct test_pki_options {
    // Subject alternative names of the server certificate. The defaults cover every
    // address the emulator can listen on.
    std::vector<std::string> dns_names{"localhost"};
    std::vector<std::string> ip_addresses{"127.0.0.1", "::1"};
    // Days the certificates stay valid; they start one hour in the past so a small
    // clock difference between processes cannot make them "not yet valid".
    int valid_days = 30;
    // When true the server certificate expired yesterday (for expiry tests); the CA
    // stays valid so only the leaf is at fault.
    bool expired_server_cert = false;
};

// Paths of the files written by generate_test_pki().
struct test_pki_files {
    std::string ca_cert;     // <dir>/ca.pem
    std::string server_cert; // <dir>/server.pem
    std::string server_key;  // <dir>/server-key.pem (PKCS#8, unencrypted, mode 0600)
};

// Creates `dir` if needed and writes a fresh CA plus a server certificate signed by it.
// Returns false and sets `error` on any failure.
bool generate_test_pki(const std::string& dir, test_pki_files& files, std::string& error,
                       const test_pki_options& options = {});

// Writes a self-signed CA certificate (its key is discarded) that has signed nothing,
// for "server certificate not trusted" tests.
bool generate_unrelated_ca(const std::string& cert_path, std::string& error);

// Creates a new, empty, uniquely named directory under the system temp directory.
// Returns an empty string and sets `error` on failure.
std::string make_scratch_dir(const std::string& prefix, std::string& error);

} // namespace dbxserve::emulator
