// The core headers in a build that has neither httplib nor OpenSSL on its link line: nothing of
// them may come in through <dbxserve/core.hpp> or through the dbxserve::core target.
#include <dbxserve/core.hpp>

#if defined(CPPHTTPLIB_VERSION) || defined(CPPHTTPLIB_OPENSSL_SUPPORT)
#error "dbxserve::core brought in cpp-httplib"
#endif
#if defined(OPENSSL_VERSION_NUMBER)
#error "dbxserve::core brought in OpenSSL"
#endif

int main() {
    dbxserve::chat_request request;
    request.messages.push_back(dbxserve::chat_message::user("hi"));
    nlohmann::json j = request;
    return j["messages"][0]["content"] == "hi" ? 0 : 1;
}
