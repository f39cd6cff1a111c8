// The umbrella header from a consumer's build: the model must serialise as documented, and the
// default transport's libraries (httplib, and OpenSSL under it) must come with the target.
#include <dbxserve/dbxserve.hpp>

int main() {
    dbxserve::chat_request request;
    request.messages.push_back(dbxserve::chat_message::user("hi"));
    nlohmann::json j = request;

    // An https client creates its TLS context at once, without any network access: this is what
    // needs the link flags (Debian's libcpp-httplib, libssl) to reach the consumer.
    httplib::Client probe("https://127.0.0.1:9");

    return j["messages"][0]["content"] == "hi" && probe.is_valid() ? 0 : 1;
}
