// The non-blocking API: a streamed chat reply runs on the client's executor while this thread
// stays free (a game's frame loop, a plugin's UI thread), and is cancelled from here.
//
// Configuration from the environment, as the official SDKs read it (DATABRICKS_HOST with
// DATABRICKS_CLIENT_ID / DATABRICKS_CLIENT_SECRET, or DATABRICKS_TOKEN, or a profile).
//
// Usage: dbxserve-async-cancel [endpoint] [question] [cancel-after-ms]
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>
#include <string>
#include <thread>

#include <dbxserve/dbxserve.hpp>

int main(int argc, char** argv) {
    const std::string endpoint = argc > 1 ? argv[1] : "chat";
    const std::string question = argc > 2 ? argv[2] : "Tell me a long story about a lighthouse";
    const auto cancel_after = std::chrono::milliseconds(argc > 3 ? std::atol(argv[3]) : 300);

    auto client = dbxserve::make_client();
    if (!client) {
        std::cerr << client.error().to_string() << "\n";
        return 1;
    }

    // 1. Start the call; the cancellation source is our handle on it.
    dbxserve::cancellation_source stop;
    dbxserve::call_options call;
    call.cancel = stop.token();
    call.timeout = std::chrono::seconds(60);

    dbxserve::chat_request request;
    request.messages.push_back(dbxserve::chat_message::user(question));
    std::atomic<int> chunks{0};
    auto pending = client->stream_async(
        endpoint, request,
        [&chunks](const dbxserve::chat_completion_chunk& chunk) {
            std::cout << chunk.text() << std::flush;
            ++chunks;
            return true;
        },
        call);

    // 2. Keep "rendering frames" until the reply is done or it is time to give up.
    const auto give_up = std::chrono::steady_clock::now() + cancel_after;
    while (pending.wait_for(std::chrono::milliseconds(16)) != std::future_status::ready) {
        if (std::chrono::steady_clock::now() >= give_up) {
            stop.cancel();
        }
    }

    // 3. Read the outcome: the whole reply, or a `cancelled` error.
    auto reply = pending.get();
    std::cout << "\n";
    if (!reply) {
        std::cout << "after " << chunks << " chunks: " << reply.error().to_string() << "\n";
        return reply.error().kind == dbxserve::error_kind::cancelled ? 0 : 1;
    }
    std::cout << "complete reply of " << reply->text().size() << " characters\n";
    return 0;
}
