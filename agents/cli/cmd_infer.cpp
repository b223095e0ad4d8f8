// fedai infer: send one chat request to a router's OpenAI-compatible API and print the answer.
#include <nlohmann/json.hpp>

#include <boost/asio/io_context.hpp>

#include <iostream>
#include <memory>

#include "agents/cli/cli.h"
#include "core/nostr/nip98.h"
#include "core/util/time.h"
#include "runners/http_client.h"

namespace fedai::cli {
namespace {

using nlohmann::json;

struct InferOptions {
  std::string router = "http://127.0.0.1:8080";
  std::string prompt;
  std::string model;
  std::string system;
  std::uint32_t max_tokens = 64;
  bool stream = false;
  bool verbose = false;
  std::string api_key;
  std::string mode;
  std::string privacy;
  std::uint64_t max_price_msat = 0;
  std::uint32_t timeout_s = 120;
  KeySource nip98;  // when given, authenticate with NIP-98 instead of an API key
};

std::string error_of(const runners::HttpResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    const json& e = j["error"];
    if (e.is_object() && e.contains("message")) return e["message"].get<std::string>();
    if (e.is_string()) return e.get<std::string>();
  }
  return "HTTP " + std::to_string(r.status);
}

void print_info(const json& fedai) {
  if (!fedai.is_object()) return;
  std::cerr << "job " << fedai.value("job_id", "") << ": node "
            << fedai.value("node", "").substr(0, 16) << " (" << fedai.value("bought", "") << ") "
            << fedai.value("price_msat", 0) << " msat, " << fedai.value("attempts", 0)
            << " attempt(s)\n";
}

int infer(const InferOptions& o) {
  std::string model = o.model;
  boost::asio::io_context io;
  runners::HttpClient client(io);
  std::string base = o.router;
  while (!base.empty() && base.back() == '/') base.pop_back();

  auto auth = [&](runners::HttpRequest& req) {
    if (!o.api_key.empty()) {
      req.headers.push_back({"Authorization", "Bearer " + o.api_key});
    } else if (!o.nip98.key.empty() || !o.nip98.key_file.empty()) {
      Keypair keys(resolve_secret_key(o.nip98));
      auto event = make_http_auth(keys, req.url, req.method, req.body, unix_now());
      req.headers.push_back({"Authorization", authorization_header(event)});
    }
  };

  // Without --model: the first model the router knows.
  if (model.empty()) {
    runners::HttpRequest req;
    req.method = "GET";
    req.url = base + "/v1/models";
    req.timeout = std::chrono::seconds(10);
    auth(req);
    std::optional<Result<runners::HttpResponse>> got;
    client.request(req, [&](Result<runners::HttpResponse> r) {
      got = std::move(r);
      client.shutdown();  // no kept-alive connection holds io.run() open
    });
    io.run();
    io.restart();
    if (!*got)
      throw CommandError("cannot reach the router at " + base + ": " + got->error().message);
    auto j = json::parse((*got)->body, nullptr, false);
    if ((*got)->status != 200 || !j.is_object() || !j.contains("data") || j["data"].empty())
      throw CommandError("the router offers no model yet (" + error_of(**got) + "); try --model");
    model = j["data"][0].value("id", "");
  }

  json body = {{"model", model}, {"max_tokens", o.max_tokens}, {"stream", o.stream}};
  json messages = json::array();
  if (!o.system.empty()) messages.push_back({{"role", "system"}, {"content", o.system}});
  messages.push_back({{"role", "user"}, {"content", o.prompt}});
  body["messages"] = messages;
  json ext = json::object();
  if (!o.mode.empty()) ext["mode"] = o.mode;
  if (!o.privacy.empty()) ext["privacy"] = o.privacy;
  if (o.max_price_msat) ext["max_price_msat"] = o.max_price_msat;
  if (!ext.empty()) body["fedai"] = ext;

  runners::HttpRequest req;
  req.url = base + "/v1/chat/completions";
  req.headers = {{"Content-Type", "application/json"}};
  req.body = body.dump();
  req.timeout = std::chrono::seconds(o.timeout_s);
  auth(req);
  int status = 1;
  if (!o.stream) {
    client.request(req, [&](Result<runners::HttpResponse> r) {
      client.shutdown();
      if (!r) {
        std::cerr << "fedai: " << r.error().message << "\n";
        return;
      }
      if (r->status != 200) {
        std::cerr << "fedai: " << error_of(*r) << "\n";
        return;
      }
      auto j = json::parse(r->body, nullptr, false);
      if (!j.is_object() || !j.contains("choices")) {
        std::cerr << "fedai: unexpected answer from the router\n";
        return;
      }
      std::cout << j["choices"][0]["message"].value("content", "") << std::endl;
      if (o.verbose) print_info(j.value("fedai", json()));
      status = 0;
    });
    io.run();
    return status;
  }

  auto parser = std::make_shared<runners::SseParser>();
  bool done = false;
  std::string error;
  json info;
  runners::StreamHandlers h;
  h.on_headers = [&](int code, const runners::Headers&) {
    if (code != 200) error = "HTTP " + std::to_string(code);
  };
  std::string error_body;
  h.on_data = [&](std::string_view chunk) {
    if (!error.empty()) {
      error_body += chunk;
      return true;
    }
    parser->feed(chunk, [&](const runners::SseParser::Event& e) {
      if (e.data == "[DONE]") {
        done = true;
        return;
      }
      auto j = json::parse(e.data, nullptr, false);
      if (!j.is_object()) return;
      if (j.contains("error")) {
        error = j["error"].is_object() ? j["error"].value("message", "error") : "error";
        return;
      }
      if (j.contains("choices") && !j["choices"].empty()) {
        const json& delta = j["choices"][0]["delta"];
        if (delta.is_object() && delta.contains("content"))
          std::cout << delta["content"].get<std::string>() << std::flush;
      }
      if (j.contains("fedai")) info = j["fedai"];
    });
    return true;
  };
  h.on_done = [&](Status st) {
    client.shutdown();
    std::cout << std::endl;
    if (!error.empty()) {
      runners::HttpResponse r;
      r.body = error_body;
      std::cerr << "fedai: " << (error_body.empty() ? error : error_of(r)) << "\n";
    } else if (!st) {
      std::cerr << "fedai: " << st.error().message << "\n";
    } else if (!done) {
      std::cerr << "fedai: the stream ended without [DONE]\n";
    } else {
      if (o.verbose) print_info(info);
      status = 0;
    }
  };
  client.stream(req, std::move(h));
  io.run();
  return status;
}

}  // namespace

void add_infer_commands(CLI::App& app, Action& action) {
  auto o = std::make_shared<InferOptions>();
  auto* cmd = app.add_subcommand(
      "infer",
      "Ask a router one question through its OpenAI-compatible API and print the answer\n"
      "(--stream prints it as it arrives). Without --model, the router's first model is used.");
  cmd->add_option("PROMPT", o->prompt, "What to ask")->required();
  cmd->add_option("--router", o->router, "The router's base URL")->capture_default_str();
  cmd->add_option("--model", o->model, "Model id (default: the first the router lists)");
  cmd->add_option("--system", o->system, "A system message before the prompt");
  cmd->add_option("--max-tokens", o->max_tokens, "Longest answer, in tokens")
      ->capture_default_str();
  cmd->add_flag("--stream", o->stream, "Stream the answer (Server-Sent Events)");
  cmd->add_flag("--verbose,-v", o->verbose, "Also print who answered, at what price (stderr)");
  cmd->add_option("--api-key", o->api_key, "API key (Authorization: Bearer); or FEDAI_API_KEY")
      ->envname("FEDAI_API_KEY");
  cmd->add_option("--mode", o->mode,
                  "How the router buys it: posted, auction or posted_then_auction");
  cmd->add_option("--privacy", o->privacy, "Privacy level PL0..PL3");
  cmd->add_option("--max-price-msat", o->max_price_msat, "Most to pay for this job, msat");
  cmd->add_option("--timeout", o->timeout_s, "Seconds to wait for the answer")
      ->capture_default_str();
  cmd->add_option("--nip98-key-file", o->nip98.key_file,
                  "Authenticate with NIP-98, signing with this key file");
  cmd->callback([&action, o] { action = [o] { return infer(*o); }; });
}

}  // namespace fedai::cli
