#include "test_pki.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace dbxserve::emulator {
namespace {

namespace fs = std::filesystem;

struct openssl_free {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
    void operator()(X509* p) const { X509_free(p); }
    void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
    void operator()(BIGNUM* p) const { BN_free(p); }
    void operator()(BIO* p) const { BIO_free(p); }
};

using key_ptr = std::unique_ptr<EVP_PKEY, openssl_free>;
using cert_ptr = std::unique_ptr<X509, openssl_free>;

// OpenSSL reports failures through its thread-local error queue; the failing step
// name plus the newest queued reason is what a test log needs.
[[noreturn]] void fail(const std::string& step) {
    std::string message = "test_pki: " + step + " failed";
    unsigned long code = ERR_get_error();
    if (code != 0) {
        char reason[256];
        ERR_error_string_n(code, reason, sizeof reason);
        message += ": ";
        message += reason;
    }
    ERR_clear_error();
    throw std::runtime_error(message);
}

void check(bool ok, const std::string& step) {
    if (!ok) {
        fail(step);
    }
}

key_ptr make_key() {
    key_ptr key(EVP_EC_gen("P-256"));
    check(key != nullptr, "EC P-256 key generation");
    return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);

    std::unique_ptr<X509_EXTENSION, openssl_free> ext(
        X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    check(ext != nullptr, "building extension " + value);
    check(X509_add_ext(cert, ext.get(), -1) == 1, "adding extension " + value);
}

struct validity {
    long not_before_seconds;
    long not_after_seconds;
};

// Issuer == nullptr makes a self-signed certificate.
cert_ptr make_cert(EVP_PKEY* subject_key, const std::string& common_name, X509* issuer,
                   validity when) {
    cert_ptr cert(X509_new());
    check(cert != nullptr, "X509_new");
    check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "setting certificate version");

    // Random serials keep repeated runs from producing "same issuer and serial" clashes
    // in clients that cache certificates.
    std::unique_ptr<BIGNUM, openssl_free> serial(BN_new());
    check(serial && BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1,
          "random serial");
    check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) != nullptr,
          "setting serial");

    check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), when.not_before_seconds) != nullptr,
          "setting notBefore");
    check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), when.not_after_seconds) != nullptr,
          "setting notAfter");

    X509_NAME* subject = X509_get_subject_name(cert.get());
    const auto* cn = reinterpret_cast<const unsigned char*>(common_name.c_str());
    check(X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>("dbxserve tests"), -1,
                                     -1, 0) == 1,
          "setting organisation");
    check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, cn, -1, -1, 0) == 1,
          "setting common name");

    X509* signer = issuer != nullptr ? issuer : cert.get();
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1,
          "setting issuer name");
    check(X509_set_pubkey(cert.get(), subject_key) == 1, "setting public key");
    return cert;
}

void sign(X509* cert, EVP_PKEY* key) {
    check(X509_sign(cert, key, EVP_sha256()) > 0, "signing certificate");
}

cert_ptr make_ca(EVP_PKEY* key, const std::string& common_name, int valid_days) {
    cert_ptr ca =
        make_cert(key, common_name, nullptr, {-3600L, static_cast<long>(valid_days) * 86400L});
    add_extension(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_extension(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
    add_extension(ca.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
    sign(ca.get(), key);
    return ca;
}

std::string subject_alt_names(const test_pki_options& options) {
    std::string value;
    for (const auto& name : options.dns_names) {
        value += (value.empty() ? "DNS:" : ",DNS:") + name;
    }
    for (const auto& ip : options.ip_addresses) {
        value += (value.empty() ? "IP:" : ",IP:") + ip;
    }
    return value;
}

template <typename Writer>
std::string to_pem(Writer write) {
    std::unique_ptr<BIO, openssl_free> bio(BIO_new(BIO_s_mem()));
    check(bio != nullptr, "BIO_new");
    check(write(bio.get()) == 1, "PEM encoding");

    char* data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

std::string cert_pem(X509* cert) {
    return to_pem([cert](BIO* bio) { return PEM_write_bio_X509(bio, cert); });
}

std::string key_pem(EVP_PKEY* key) {
    return to_pem([key](BIO* bio) {
        return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    });
}

void write_file(const fs::path& path, const std::string& content, bool secret) {
    // The key file is created empty and restricted before the key lands in it, so
    // it is never readable by others, not even briefly.
    {
        std::ofstream create(path, std::ios::binary | std::ios::trunc);
        if (!create) {
            throw std::runtime_error("test_pki: cannot create " + path.string());
        }
    }
    if (secret) {
        std::error_code ec;
        fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write,
                        fs::perm_options::replace, ec);
        if (ec) {
            throw std::runtime_error("test_pki: cannot restrict " + path.string() + ": " +
                                     ec.message());
        }
    }

    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) {
        throw std::runtime_error("test_pki: cannot write " + path.string());
    }
}

void ensure_dir(const fs::path& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir)) {
        throw std::runtime_error("test_pki: cannot create directory " + dir.string() +
                                 (ec ? ": " + ec.message() : std::string()));
    }
}

std::string random_hex(std::size_t bytes) {
    std::vector<unsigned char> raw(bytes);
    check(RAND_bytes(raw.data(), static_cast<int>(raw.size())) == 1, "RAND_bytes");

    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : raw) {
        out += digits[b >> 4];
        out += digits[b & 0x0f];
    }
    return out;
}

} // namespace

bool generate_test_pki(const std::string& dir, test_pki_files& files, std::string& error,
                       const test_pki_options& options) {
    try {
        const fs::path base(dir);
        ensure_dir(base);

        key_ptr ca_key = make_key();
        cert_ptr ca =
            make_ca(ca_key.get(), "dbxserve test CA " + random_hex(4), options.valid_days);

        const long day = 86400L;
        validity server_validity{-3600L, static_cast<long>(options.valid_days) * day};
        if (options.expired_server_cert) {
            server_validity = {-2 * day, -day};
        }

        key_ptr server_key = make_key();
        cert_ptr server = make_cert(server_key.get(), "localhost", ca.get(), server_validity);
        add_extension(server.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
        add_extension(server.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
        add_extension(server.get(), ca.get(), NID_ext_key_usage, "serverAuth");
        const std::string san = subject_alt_names(options);
        if (!san.empty()) {
            add_extension(server.get(), ca.get(), NID_subject_alt_name, san);
        }
        add_extension(server.get(), ca.get(), NID_subject_key_identifier, "hash");
        add_extension(server.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
        sign(server.get(), ca_key.get());

        test_pki_files out{(base / "ca.pem").string(), (base / "server.pem").string(),
                           (base / "server-key.pem").string()};
        write_file(out.ca_cert, cert_pem(ca.get()), false);
        write_file(out.server_cert, cert_pem(server.get()), false);
        write_file(out.server_key, key_pem(server_key.get()), true);
        files = out;
        return true;
    } catch (const std::exception& e) {
        error = e.what();
        return false;
    }
}

bool generate_unrelated_ca(const std::string& cert_path, std::string& error) {
    try {
        const fs::path path(cert_path);
        if (path.has_parent_path()) {
            ensure_dir(path.parent_path());
        }

        key_ptr key = make_key();
        cert_ptr ca = make_ca(key.get(), "dbxserve unrelated CA " + random_hex(4), 30);
        write_file(path, cert_pem(ca.get()), false);
        return true;
    } catch (const std::exception& e) {
        error = e.what();
        return false;
    }
}

std::string make_scratch_dir(const std::string& prefix, std::string& error) {
    try {
        std::error_code ec;
        const fs::path tmp = fs::temp_directory_path(ec);
        if (ec) {
            throw std::runtime_error("no temp directory: " + ec.message());
        }
        // create_directory reports "already existed" as false, which lets a name clash
        // retry instead of sharing another run's directory.
        for (int attempt = 0; attempt < 16; ++attempt) {
            const fs::path candidate = tmp / (prefix + "-" + random_hex(8));
            if (fs::create_directory(candidate, ec)) {
                return candidate.string();
            }
            if (ec) {
                throw std::runtime_error("cannot create " + candidate.string() + ": " +
                                         ec.message());
            }
        }
        throw std::runtime_error("no unused directory name found under " + tmp.string());
    } catch (const std::exception& e) {
        error = e.what();
        return std::string();
    }
}

} // namespace dbxserve::emulator
