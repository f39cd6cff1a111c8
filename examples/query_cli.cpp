// dbxserve-query: query a Databricks serving endpoint from the command line.
//
// Configuration is resolved exactly like the library (and the official SDKs) resolve it:
// DATABRICKS_HOST with DATABRICKS_TOKEN or DATABRICKS_CLIENT_ID/DATABRICKS_CLIENT_SECRET, or a
// ~/.databrickscfg profile (DATABRICKS_CONFIG_PROFILE or --profile).
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include <dbxserve/dbxserve.hpp>

namespace {

constexpr const char* usage_text =
    "usage: dbxserve-query --endpoint NAME (--message TEXT | --json FILE|-) [options]\n"
    "\n"
    "  --endpoint NAME   serving endpoint to invoke\n"
    "  --message TEXT    send a chat request with one user message; prints the reply text\n"
    "  --json FILE|-     send this JSON body as is (- reads stdin); prints the reply text for\n"
    "                    chat, agent and responses replies, else the JSON\n"
    "  --profile NAME    ~/.databrickscfg profile (default: DATABRICKS_CONFIG_PROFILE, DEFAULT)\n"
    "  --ca-file FILE    trust this PEM CA bundle (default: SSL_CERT_FILE or the system store)\n"
    "  --stream          with --message: print the reply as it arrives\n"
    "  --timeout SECONDS overall deadline of the call, retries included (default 600)\n"
    "  --print-json      print the whole JSON reply instead of the text\n"
    "  --verbose         print what the library does to stderr (secrets redacted)\n"
    "\n"
    "Exit status: 0 on success, 1 when the call failed, 2 on bad usage.\n";

struct options {
    std::string endpoint;
    std::string message;
    std::string json_file;
    std::string profile;
    std::string ca_file;
    std::string timeout;
    bool stream = false;
    bool print_json = false;
    bool verbose = false;
};

bool parse_arguments(int argc, char** argv, options& out) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&](std::string& target) {
            if (i + 1 >= argc) {
                return false;
            }
            target = argv[++i];
            return true;
        };
        bool ok = true;
        if (arg == "--endpoint") {
            ok = value(out.endpoint);
        } else if (arg == "--message") {
            ok = value(out.message);
        } else if (arg == "--json") {
            ok = value(out.json_file);
        } else if (arg == "--profile") {
            ok = value(out.profile);
        } else if (arg == "--ca-file") {
            ok = value(out.ca_file);
        } else if (arg == "--timeout") {
            ok = value(out.timeout);
        } else if (arg == "--stream") {
            out.stream = true;
        } else if (arg == "--print-json") {
            out.print_json = true;
        } else if (arg == "--verbose") {
            out.verbose = true;
        } else {
            ok = false;
        }
        if (!ok) {
            std::cerr << "dbxserve-query: bad argument '" << arg << "'\n";
            return false;
        }
    }
    const bool one_body = out.message.empty() != out.json_file.empty();
    return !out.endpoint.empty() && one_body && (!out.stream || !out.message.empty());
}

bool read_body(const std::string& file, nlohmann::json& body) {
    std::string text;
    if (file == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        std::ifstream in(file, std::ios::binary);
        if (!in) {
            std::cerr << "dbxserve-query: cannot read " << file << "\n";
            return false;
        }
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    body = nlohmann::json::parse(text, nullptr, false);
    if (body.is_discarded()) {
        std::cerr << "dbxserve-query: " << file << " is not valid JSON\n";
        return false;
    }
    return true;
}

// The reply's text when it is a chat completion, a ChatAgent or a ResponsesAgent reply.
std::string reply_text(const nlohmann::json& reply) {
    if (!reply.is_object()) {
        return {};
    }
    if (reply.contains("choices")) {
        return reply.get<dbxserve::chat_completion>().text();
    }
    if (reply.contains("output")) {
        return reply.get<dbxserve::responses_response>().output_text();
    }
    if (reply.contains("messages")) {
        return reply.get<dbxserve::chat_agent_response>().text();
    }
    return {};
}

} // namespace

int main(int argc, char** argv) {
    options opts;
    if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        std::cout << usage_text;
        return 0;
    }
    if (!parse_arguments(argc, argv, opts)) {
        std::cerr << usage_text;
        return 2;
    }

    nlohmann::json body;
    if (!opts.json_file.empty() && !read_body(opts.json_file, body)) {
        return 2;
    }
    if (!opts.message.empty()) {
        dbxserve::chat_request request;
        request.messages.push_back(dbxserve::chat_message::user(opts.message));
        body = request;
    }

    dbxserve::config cfg;
    if (!opts.profile.empty()) {
        cfg.profile = opts.profile;
    }
    dbxserve::client_options client_opts;
    client_opts.user_agent_product = "dbxserve-query/" + std::string(dbxserve::version());
    if (opts.verbose) {
        client_opts.on_event = [](const dbxserve::event& e) {
            std::cerr << "[" << dbxserve::to_string(e.level) << "] " << e.name << ": " << e.message
                      << "\n";
        };
    }
    dbxserve::httplib_transport_options transport_opts;
    transport_opts.tls.ca_file = opts.ca_file;

    auto client = dbxserve::make_client(cfg, client_opts, transport_opts);
    if (!client) {
        std::cerr << client.error().to_string() << "\n";
        return 1;
    }

    dbxserve::call_options call;
    if (!opts.timeout.empty()) {
        call.timeout = std::chrono::milliseconds(
            static_cast<long long>(std::strtod(opts.timeout.c_str(), nullptr) * 1000));
    }

    if (opts.stream) {
        dbxserve::chat_request request;
        request.messages.push_back(dbxserve::chat_message::user(opts.message));
        auto streamed = client->stream(
            opts.endpoint, request,
            [](const dbxserve::chat_completion_chunk& chunk) {
                std::cout << chunk.text() << std::flush;
                return true;
            },
            call);
        std::cout << "\n";
        if (!streamed) {
            std::cerr << streamed.error().to_string() << "\n";
            return 1;
        }
        return 0;
    }

    auto reply = client->invoke(opts.endpoint, body, call);
    if (!reply) {
        std::cerr << reply.error().to_string() << "\n";
        return 1;
    }

    const std::string text = opts.print_json ? std::string() : reply_text(reply->body);
    if (!text.empty()) {
        std::cout << text << "\n";
    } else {
        std::cout << reply->body.dump(2) << "\n";
    }
    return 0;
}
