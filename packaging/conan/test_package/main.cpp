// The umbrella header from the conan package: the model must serialise, and the transport's
// libraries must come with the dbxserve::dbxserve target.
#include <dbxserve/dbxserve.hpp>

#include <cstdio>

int main() {
    dbxserve::chat_request request;
    request.messages.push_back(dbxserve::chat_message::user("hi"));
    nlohmann::json j = request;

    // An https client creates its TLS context at once, without network access: this needs
    // cpp-httplib and OpenSSL to have reached the link line.
    httplib::Client probe("https://127.0.0.1:9");

    std::printf("dbxserve %s\n", dbxserve::version());
    return j["messages"][0]["content"] == "hi" && probe.is_valid() ? 0 : 1;
}
