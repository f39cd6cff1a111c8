// OAuth M2M in a dozen lines: a service principal asks a chat endpoint one question.
//
// Needs, in the environment:
//   DATABRICKS_CLIENT_ID      the service principal's application (client) id
//   DATABRICKS_CLIENT_SECRET  one of its OAuth secrets
//
// Usage: dbxserve-m2m-chat https://<workspace-host> [endpoint] [question]
#include <cstdlib>
#include <iostream>

#include <dbxserve/dbxserve.hpp>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: dbxserve-m2m-chat https://<workspace-host> [endpoint] [question]\n";
        return 2;
    }
    const char* id = std::getenv("DATABRICKS_CLIENT_ID");
    const char* secret = std::getenv("DATABRICKS_CLIENT_SECRET");
    if (id == nullptr || secret == nullptr) {
        std::cerr << "set DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET\n";
        return 2;
    }

    // 1. Configure: an explicit host and service principal; the token endpoint is discovered,
    //    the token fetched on first use, cached, and refreshed before it expires.
    dbxserve::config cfg;
    cfg.host = argv[1];
    cfg.client_id = id;
    cfg.client_secret = secret;
    cfg.auth_type = "oauth-m2m";
    auto client = dbxserve::make_client(cfg);
    if (!client) {
        std::cerr << client.error().to_string() << "\n";
        return 1;
    }

    // 2. Ask.
    dbxserve::chat_request request;
    request.messages.push_back(dbxserve::chat_message::user(argc > 3 ? argv[3] : "Hello agent!"));
    auto reply = client->query(argc > 2 ? argv[2] : "chat", request);
    if (!reply) {
        std::cerr << reply.error().to_string() << "\n";
        return 1;
    }

    // 3. Use the typed reply.
    std::cout << reply->text() << "\n";
    return 0;
}
