#pragma once

// A TLS workspace emulator with throwaway certificates, and clients trusting it, shared by the
// integration tests.

#include <memory>
#include <string>

#include <doctest/doctest.h>

#include <dbxserve/dbxserve.hpp>

#include "emulator.hpp"
#include "test_pki.hpp"

namespace dbxserve_test {

namespace emu = dbxserve::emulator;

struct pki {
    emu::test_pki_files files;
    std::string unrelated_ca;

    pki() {
        std::string error;
        const std::string dir = emu::make_scratch_dir("dbxserve-client-test", error);
        REQUIRE_MESSAGE(!dir.empty(), error);
        REQUIRE_MESSAGE(emu::generate_test_pki(dir, files, error), error);
        unrelated_ca = dir + "/unrelated-ca.pem";
        REQUIRE_MESSAGE(emu::generate_unrelated_ca(unrelated_ca, error), error);
    }
};

inline const pki& test_pki() {
    static const pki instance; // generated once for the whole test binary
    return instance;
}

struct tls_workspace {
    std::unique_ptr<emu::workspace_emulator> server;

    explicit tls_workspace(emu::emulator_options o = {}) {
        o.cert_file = test_pki().files.server_cert;
        o.key_file = test_pki().files.server_key;
        server = std::make_unique<emu::workspace_emulator>(o);
        REQUIRE_MESSAGE(server->start(), server->last_error());
    }

    dbxserve::httplib_transport_options trusted() const {
        dbxserve::httplib_transport_options t;
        t.tls.ca_file = test_pki().files.ca_cert;
        return t;
    }

    dbxserve::config m2m(const std::string& secret = "dbxserve-secret") const {
        dbxserve::config cfg;
        cfg.host = server->url();
        cfg.client_id = "dbxserve-sp";
        cfg.client_secret = secret;
        return cfg;
    }

    dbxserve::config pat(const std::string& token = "dapi-emulator-pat") const {
        dbxserve::config cfg;
        cfg.host = server->url();
        cfg.token = token;
        return cfg;
    }

    dbxserve::client make(const dbxserve::config& cfg, dbxserve::client_options o = {}) const {
        auto c = dbxserve::make_client(cfg, std::move(o), trusted(),
                                       dbxserve::environment::from_map({}));
        REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().to_string()));
        return std::move(*c);
    }
};
} // namespace dbxserve_test
