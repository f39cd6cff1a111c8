// Streaming, async calls, cancellation, deadlines, retries and proxies, against the emulator's
// fault injection over TLS: each fault through query, stream and async, with the attempt and
// "processed" counts the policy promises.
#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <dbxserve/dbxserve.hpp>

#include "../support/connect_proxy.hpp"
#include "../support/workspace_fixture.hpp"

using namespace std::chrono_literals;
using dbxserve::error_kind;
using dbxserve_test::tls_workspace;
namespace emu = dbxserve::emulator;

namespace {

using clock_type = std::chrono::steady_clock;

enum class mode { query, stream, async };

const char* name_of(mode m) {
    switch (m) {
    case mode::query:
        return "query";
    case mode::stream:
        return "stream";
    case mode::async:
        return "async";
    }
    return "?";
}

dbxserve::chat_request ask(const std::string& text = "one two three four five six") {
    dbxserve::chat_request request;
    request.messages.push_back(dbxserve::chat_message::user(text));
    return request;
}

// Short waits keep the whole matrix within seconds; the policy's logic is the same.
dbxserve::client_options fast_retries() {
    dbxserve::client_options o;
    o.retry.initial_backoff = 10ms;
    o.retry.max_backoff = 40ms;
    o.retry.max_attempts = 5;
    return o;
}

struct outcome {
    dbxserve::result<dbxserve::chat_completion> reply;
    int chunks = 0;
    std::chrono::milliseconds elapsed{0};
};

outcome run(mode m, const dbxserve::client& client, const dbxserve::call_options& call = {}) {
    const auto started = clock_type::now();
    int chunks = 0;
    auto count = [&chunks](const dbxserve::chat_completion_chunk&) {
        ++chunks;
        return true;
    };
    auto finish = [&](dbxserve::result<dbxserve::chat_completion> r) {
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - started);
        return outcome{std::move(r), chunks, elapsed};
    };
    switch (m) {
    case mode::query:
        return finish(client.query("chat", ask(), call));
    case mode::stream:
        return finish(client.stream("chat", ask(), count, call));
    case mode::async:
        return finish(client.query_async("chat", ask(), call).get());
    }
    return finish(dbxserve::make_error(error_kind::invalid_input, "unknown mode"));
}

const mode all_modes[] = {mode::query, mode::stream, mode::async};

} // namespace

TEST_CASE("resilience: a stream delivers typed chunks that add up to the query's reply") {
    tls_workspace ws;
    auto client = ws.make(ws.m2m());

    auto plain = client.query("chat", ask());
    REQUIRE_MESSAGE(plain.ok(), plain.error().to_string());

    std::string live;
    int chunks = 0;
    auto streamed = client.stream("chat", ask(), [&](const dbxserve::chat_completion_chunk& c) {
        live += c.text();
        ++chunks;
        return true;
    });
    REQUIRE_MESSAGE(streamed.ok(), streamed.error().to_string());
    CHECK(chunks > 3);
    CHECK(live == plain->text());
    CHECK(streamed->text() == plain->text());
    CHECK(streamed->choices.at(0).finish_reason == plain->choices.at(0).finish_reason);
    CHECK_FALSE(streamed->meta.request_id.empty());

    const auto sent = ws.server->requests().back();
    CHECK(sent.header("Accept") == "text/event-stream");
    CHECK(nlohmann::json::parse(sent.body)["stream"] == true);
}

TEST_CASE("resilience: ChatAgent and ResponsesAgent streams are typed and accumulated") {
    tls_workspace ws;
    auto client = ws.make(ws.pat());

    dbxserve::responses_request responses;
    responses.input.push_back(dbxserve::responses_input::user("alpha beta gamma"));
    std::string deltas;
    int done_items = 0;
    auto reply =
        client.stream("responses", responses, [&](const dbxserve::responses_stream_event& e) {
            if (e.is_text_delta()) {
                deltas += e.delta;
            }
            done_items += e.is_item_done() ? 1 : 0;
            return true;
        });
    REQUIRE_MESSAGE(reply.ok(), reply.error().to_string());
    CHECK(done_items == 1);
    CHECK(reply->output_text() == deltas);
    CHECK(reply->output_text().find("gamma") != std::string::npos);

    dbxserve::chat_agent_request agent;
    agent.messages.push_back(dbxserve::chat_agent_message::user("delta epsilon"));
    auto agent_reply =
        client.stream("agent", agent, [](const dbxserve::chat_agent_chunk&) { return true; });
    REQUIRE_MESSAGE(agent_reply.ok(), agent_reply.error().to_string());
    CHECK(agent_reply->text().find("epsilon") != std::string::npos);
}

TEST_CASE("resilience: the stream callback can stop early") {
    tls_workspace ws;
    auto client = ws.make(ws.pat());
    int chunks = 0;
    auto reply = client.stream(
        "chat", ask(), [&](const dbxserve::chat_completion_chunk&) { return ++chunks < 2; });
    REQUIRE(reply.ok());
    CHECK(chunks == 2);
    CHECK(reply->text().size() < client.query("chat", ask())->text().size());
}

TEST_CASE("resilience: an error reply to a stream request is a typed error, not events") {
    tls_workspace ws;
    auto client = ws.make(ws.pat());
    auto reply = client.stream("missing", ask(),
                               [](const dbxserve::chat_completion_chunk&) { return true; });
    REQUIRE_FALSE(reply.ok());
    CHECK(reply.error().http_status == 404);
    CHECK(reply.error().error_code == "RESOURCE_DOES_NOT_EXIST");
    CHECK_FALSE(reply.error().request_id.empty());
}

TEST_CASE("resilience: three 429s or 503s then success is four attempts, processed once") {
    for (int status : {429, 503}) {
        for (mode m : all_modes) {
            CAPTURE(status);
            CAPTURE(name_of(m));
            tls_workspace ws;
            auto client = ws.make(ws.pat(), fast_retries());
            emu::fault_plan plan;
            auto& fault = status == 429 ? plan.status_429 : plan.status_503;
            fault.scope = {"chat", 3};
            fault.retry_after_seconds = 0;
            ws.server->set_fault_plan(plan);

            auto r = run(m, client);
            REQUIRE_MESSAGE(r.reply.ok(), r.reply.error().to_string());
            CHECK(ws.server->invocations("chat") == 4);
            CHECK(ws.server->processed("chat") == 1);
        }
    }
}

TEST_CASE("resilience: Retry-After is honoured, in seconds and as an HTTP date") {
    for (bool http_date : {false, true}) {
        CAPTURE(http_date);
        tls_workspace ws;
        auto client = ws.make(ws.pat(), fast_retries());
        emu::fault_plan plan;
        plan.status_503.scope = {"chat", 1};
        plan.status_503.retry_after_seconds = http_date ? 2 : 1;
        plan.status_503.retry_after_http_date = http_date;
        ws.server->set_fault_plan(plan);

        auto r = run(mode::query, client);
        REQUIRE(r.reply.ok());
        CHECK(ws.server->invocations("chat") == 2);
        // An HTTP date has a resolution of one second: "2 s from now" means more than 1 s.
        CHECK(r.elapsed >= 1s);
        CHECK(r.elapsed < 5s);
    }
}

TEST_CASE("resilience: throttling that never ends stops at the attempt limit with a 429") {
    tls_workspace ws;
    auto client = ws.make(ws.pat(), fast_retries());
    emu::fault_plan plan;
    plan.status_429.scope = {"chat", -1};
    plan.status_429.retry_after_seconds = 0;
    ws.server->set_fault_plan(plan);

    auto r = run(mode::query, client);
    REQUIRE_FALSE(r.reply.ok());
    CHECK(r.reply.error().kind == error_kind::http);
    CHECK(r.reply.error().http_status == 429);
    CHECK(r.reply.error().error_code == "REQUEST_LIMIT_EXCEEDED");
    CHECK(ws.server->invocations("chat") == 5);
    CHECK(ws.server->processed("chat") == 0);
}

TEST_CASE("resilience: a reset mid-body is an error and is never retried") {
    for (mode m : all_modes) {
        CAPTURE(name_of(m));
        tls_workspace ws;
        auto client = ws.make(ws.pat(), fast_retries());
        emu::fault_plan plan;
        plan.reset_mid_body = {"chat", 1};
        ws.server->set_fault_plan(plan);

        auto r = run(m, client);
        REQUIRE_FALSE(r.reply.ok());
        CHECK(r.reply.error().request_may_have_been_sent);
        CHECK(ws.server->invocations("chat") == 1);
        CHECK(ws.server->processed("chat") == 1);
    }
}

TEST_CASE("resilience: a server that stalls cannot hold a call past its deadline") {
    for (bool during_body : {false, true}) {
        for (mode m : all_modes) {
            CAPTURE(name_of(m));
            CAPTURE(during_body);
            tls_workspace ws;
            auto client = ws.make(ws.pat(), fast_retries());
            emu::fault_plan plan;
            auto& stall = during_body ? plan.stall_during_body : plan.stall_before_headers;
            stall.scope = {"chat", 1};
            stall.delay = 3s;
            ws.server->set_fault_plan(plan);

            dbxserve::call_options call;
            call.timeout = 300ms;
            auto r = run(m, client, call);
            REQUIRE_FALSE(r.reply.ok());
            CHECK(r.reply.error().kind == error_kind::timeout);
            CHECK(r.elapsed >= 300ms);
            CHECK(r.elapsed < 800ms);
            CHECK(ws.server->invocations("chat") == 1); // a read timeout is never retried
        }
    }
}

TEST_CASE("resilience: token endpoint failures are retried within its own budget") {
    for (mode m : all_modes) {
        CAPTURE(name_of(m));
        tls_workspace ws;
        emu::fault_plan plan;
        plan.token_fail.count = 2;
        plan.token_fail.status = 503;
        ws.server->set_fault_plan(plan);

        dbxserve::oauth_m2m_options m2m;
        m2m.host = ws.server->url();
        m2m.client_id = "dbxserve-sp";
        m2m.client_secret = "dbxserve-secret";
        m2m.token_retry.initial_backoff = 10ms;
        m2m.token_retry.max_backoff = 40ms;
        auto made =
            dbxserve::basic_client<dbxserve::httplib_transport, dbxserve::oauth_m2m>::create(
                ws.server->url(), dbxserve::httplib_transport(ws.trusted()),
                dbxserve::oauth_m2m(m2m));
        REQUIRE(made.ok());
        const auto& client = *made;

        dbxserve::result<dbxserve::chat_completion> reply =
            m == mode::query ? client.query("chat", ask())
            : m == mode::stream
                ? client.stream("chat", ask(),
                                [](const dbxserve::chat_completion_chunk&) { return true; })
                : client.query_async("chat", ask()).get();
        REQUIRE_MESSAGE(reply.ok(), reply.error().to_string());
        CHECK(ws.server->token_requests() == 3);
        CHECK(ws.server->invocations("chat") == 1);
    }
}

TEST_CASE("resilience: a hanging token endpoint cannot hold a call past its deadline") {
    for (mode m : all_modes) {
        CAPTURE(name_of(m));
        tls_workspace ws;
        emu::fault_plan plan;
        plan.token_hang.count = 1;
        plan.token_hang.delay = 3s;
        ws.server->set_fault_plan(plan);
        auto client = ws.make(ws.m2m());

        dbxserve::call_options call;
        call.timeout = 300ms;
        auto r = run(m, client, call);
        REQUIRE_FALSE(r.reply.ok());
        CHECK(r.reply.error().kind == error_kind::timeout);
        CHECK(r.elapsed < 800ms);
        CHECK(ws.server->invocations("chat") == 0);
    }
}

TEST_CASE("resilience: a revoked token causes exactly one refresh and one retry") {
    for (mode m : all_modes) {
        CAPTURE(name_of(m));
        tls_workspace ws;
        auto client = ws.make(ws.m2m());
        REQUIRE(client.query("chat", ask()).ok());

        ws.server->revoke_tokens();
        auto r = run(m, client);
        REQUIRE_MESSAGE(r.reply.ok(), r.reply.error().to_string());
        CHECK(ws.server->token_requests() == 2);
        CHECK(ws.server->invocations("chat") == 3);
        CHECK(ws.server->processed("chat") == 2);
    }
}

TEST_CASE("resilience: a cancelled stream stops within 100 ms") {
    tls_workspace ws;
    emu::fault_plan plan;
    plan.pace_stream = {{"chat", -1}, 200ms};
    ws.server->set_fault_plan(plan);
    auto client = ws.make(ws.pat());

    dbxserve::cancellation_source stop;
    dbxserve::call_options call;
    call.cancel = stop.token();
    std::atomic<int> chunks{0};
    auto pending = client.stream_async(
        "chat", ask(),
        [&](const dbxserve::chat_completion_chunk&) {
            ++chunks;
            return true;
        },
        call);

    for (int i = 0; i < 200 && chunks < 2; ++i) {
        std::this_thread::sleep_for(10ms);
    }
    REQUIRE(chunks >= 2);
    const auto cancelled_at = clock_type::now();
    stop.cancel();
    REQUIRE(pending.wait_for(2s) == std::future_status::ready);
    const auto took = clock_type::now() - cancelled_at;

    auto reply = pending.get();
    REQUIRE_FALSE(reply.ok());
    CHECK(reply.error().kind == error_kind::cancelled);
    CHECK(took < 100ms);
}

TEST_CASE("resilience: cancelling during a retry wait returns promptly") {
    tls_workspace ws;
    emu::fault_plan plan;
    plan.status_429.scope = {"chat", 1};
    plan.status_429.retry_after_seconds = 5;
    ws.server->set_fault_plan(plan);
    auto client = ws.make(ws.pat(), fast_retries());

    dbxserve::cancellation_source stop;
    dbxserve::call_options call;
    call.cancel = stop.token();
    auto pending = client.query_async("chat", ask(), call);
    for (int i = 0; i < 200 && ws.server->invocations("chat") == 0; ++i) {
        std::this_thread::sleep_for(5ms);
    }
    std::this_thread::sleep_for(50ms);
    const auto cancelled_at = clock_type::now();
    stop.cancel();
    REQUIRE(pending.wait_for(2s) == std::future_status::ready);
    CHECK(clock_type::now() - cancelled_at < 100ms);
    auto reply = pending.get();
    REQUIRE_FALSE(reply.ok());
    CHECK(reply.error().kind == error_kind::cancelled);
    CHECK(ws.server->invocations("chat") == 1);
}

TEST_CASE("resilience: a stream that ends without [DONE] after its final chunk is complete") {
    tls_workspace ws;
    emu::fault_plan plan;
    plan.stream_without_done = {"chat", 1};
    ws.server->set_fault_plan(plan);
    auto client = ws.make(ws.pat());
    auto r = run(mode::stream, client);
    REQUIRE_MESSAGE(r.reply.ok(), r.reply.error().to_string());
    CHECK(r.reply->text() == client.query("chat", ask())->text());
}

TEST_CASE("resilience: an error object inside a stream is a typed error") {
    tls_workspace ws;
    emu::fault_plan plan;
    plan.stream_error_event.scope = {"chat", 1};
    plan.stream_error_event.after_chunks = 2;
    ws.server->set_fault_plan(plan);
    auto client = ws.make(ws.pat());

    auto r = run(mode::stream, client);
    REQUIRE_FALSE(r.reply.ok());
    CHECK(r.reply.error().error_code == "INTERNAL_ERROR");
    CHECK(r.chunks == 2);
    CHECK(ws.server->invocations("chat") == 1);
}

TEST_CASE("resilience: the completion-callback form and a user-supplied executor") {
    tls_workspace ws;
    std::atomic<int> posted{0};
    dbxserve::thread_pool engine_jobs(2);
    dbxserve::client_options o;
    o.executor = [&](std::function<void()> task) {
        ++posted;
        engine_jobs.post(std::move(task));
    };
    auto client = ws.make(ws.pat(), o);

    std::promise<std::string> text;
    client.query_async("chat", ask("callback please"),
                       [&](dbxserve::result<dbxserve::chat_completion> reply) {
                           text.set_value(reply ? reply->text() : reply.error().to_string());
                       });
    auto future = text.get_future();
    REQUIRE(future.wait_for(5s) == std::future_status::ready);
    CHECK(future.get().find("callback please") != std::string::npos);
    CHECK(posted == 1);
}

TEST_CASE("resilience: many async calls at once") {
    tls_workspace ws;
    dbxserve::client_options o;
    o.async_threads = 4;
    auto client = ws.make(ws.m2m(), o);

    std::vector<std::future<dbxserve::result<dbxserve::chat_completion>>> pending;
    for (int i = 0; i < 32; ++i) {
        pending.push_back(client.query_async("chat", ask("n" + std::to_string(i))));
    }
    int ok = 0;
    for (auto& p : pending) {
        ok += p.get().ok() ? 1 : 0;
    }
    CHECK(ok == 32);
    CHECK(ws.server->token_requests() == 1);
}

TEST_CASE("resilience: HTTPS through a CONNECT proxy keeps the token inside TLS") {
    tls_workspace ws;
    dbxserve_test::connect_proxy_options po;
    po.username = "proxy-user";
    po.password = "proxy-pass";
    dbxserve_test::connect_proxy proxy(po);
    REQUIRE(proxy.start());

    SUBCASE("explicit proxy with credentials") {
        auto transport = ws.trusted();
        transport.proxy.url = proxy.url();
        transport.proxy.username = "proxy-user";
        transport.proxy.password = "proxy-pass";
        transport.proxy.from_environment = false;
        auto client =
            dbxserve::make_client(ws.m2m(), {}, transport, dbxserve::environment::from_map({}));
        REQUIRE(client.ok());
        auto reply = client->query("chat", ask());
        REQUIRE_MESSAGE(reply.ok(), reply.error().to_string());

        REQUIRE_FALSE(proxy.connects().empty());
        CHECK(proxy.connects()[0].target == "127.0.0.1:" + std::to_string(ws.server->port()));
        CHECK(proxy.connects()[0].auth_valid);
        CHECK(proxy.plain_requests().empty());
        CHECK_FALSE(proxy.saw_bytes("Bearer "));
        CHECK_FALSE(proxy.saw_bytes("dbxserve-secret"));
    }
    SUBCASE("HTTPS_PROXY from the environment") {
        auto transport = ws.trusted();
        transport.env = dbxserve::environment::from_map(
            {{"HTTPS_PROXY",
              "http://proxy-user:proxy-pass@127.0.0.1:" + std::to_string(proxy.port())}});
        auto client =
            dbxserve::make_client(ws.pat(), {}, transport, dbxserve::environment::from_map({}));
        REQUIRE(client.ok());
        REQUIRE(client->query("chat", ask()).ok());
        CHECK(proxy.connects().size() == 1);
        CHECK_FALSE(proxy.saw_bytes("dapi-emulator-pat"));
    }
    SUBCASE("NO_PROXY bypasses it") {
        auto transport = ws.trusted();
        transport.env = dbxserve::environment::from_map(
            {{"HTTPS_PROXY", proxy.url()}, {"NO_PROXY", "localhost,127.0.0.1"}});
        auto client =
            dbxserve::make_client(ws.pat(), {}, transport, dbxserve::environment::from_map({}));
        REQUIRE(client.ok());
        REQUIRE(client->query("chat", ask()).ok());
        CHECK(proxy.connects().empty());
    }
    proxy.stop();
}
