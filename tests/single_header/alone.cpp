// The single header must compile on its own, warning-free, with nothing included before it.
#include <dbxserve.hpp>

int main() {
    dbxserve::chat_request request;
    request.messages.push_back(dbxserve::chat_message::user("ping"));
    const nlohmann::json body = request;
    return body.contains("messages") ? 0 : 1;
}
