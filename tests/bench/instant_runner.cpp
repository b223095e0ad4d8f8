// fedai_instant_runner: a test double of an OpenAI-compatible model server that answers at once,
// so that benchmarks of the router and the node measure fedai and not a model. It serves
// POST /v1/chat/completions (whole, or Server-Sent Events with a final usage chunk when the
// body says "stream": true), GET /v1/models and GET /health over HTTP/1.1 with keep-alive, on
// one Asio thread, with TCP_NODELAY. Every answer is the same short text with fixed usage.
//
//   fedai_instant_runner [--listen 127.0.0.1:0] [--model NAME]...
//
// Prints "runner: http://HOST:PORT" on stdout once it accepts connections; SIGINT or SIGTERM
// stops it.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/write.hpp>
#include "core/util/ascii.h"

#include <nlohmann/json.hpp>

#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using fedai::iequals;

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using nlohmann::json;

constexpr std::size_t kMaxRequestBytes = 4 << 20;
constexpr std::string_view kText = "Hello, world!";
constexpr unsigned kPromptTokens = 11, kCompletionTokens = 4;

struct Config {
  std::vector<std::string> models;
  std::string models_body;
  // Answers already built, by model and stream or not: an instant runner should cost as little
  // as it can, since on a 2-core machine its CPU is taken from the processes measured.
  std::map<std::pair<std::string, bool>, std::string> answers;
};

std::string whole(int status, std::string_view reason, std::string_view type, std::string_view body,
                  bool close) {
  std::string out;
  out.reserve(160 + body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason;
  out += "\r\nContent-Type: ";
  out += type;
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n";
  out += body;
  return out;
}

json usage() {
  return {{"prompt_tokens", kPromptTokens},
          {"completion_tokens", kCompletionTokens},
          {"total_tokens", kPromptTokens + kCompletionTokens}};
}

std::string completion(const std::string& model) {
  json out = {{"id", "chatcmpl-instant"},
              {"object", "chat.completion"},
              {"created", 0},
              {"model", model},
              {"choices",
               {{{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", kText}}},
                 {"finish_reason", "stop"}}}},
              {"usage", usage()}};
  return out.dump();
}

// The whole event stream in one chunk: a role delta, two content deltas, the finish_reason chunk,
// the usage chunk (stream_options.include_usage) and [DONE].
std::string event_stream(const std::string& model, bool close) {
  auto chunk = [&](json delta, json finish) {
    return json{{"id", "chatcmpl-instant"},
                {"object", "chat.completion.chunk"},
                {"created", 0},
                {"model", model},
                {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}}
        .dump();
  };
  std::string events;
  events += "data: " + chunk({{"role", "assistant"}}, nullptr) + "\n\n";
  events += "data: " + chunk({{"content", kText.substr(0, 5)}}, nullptr) + "\n\n";
  events += "data: " + chunk({{"content", kText.substr(5)}}, nullptr) + "\n\n";
  events += "data: " + chunk(json::object(), "stop") + "\n\n";
  events +=
      "data: " +
      json{{"id", "chatcmpl-instant"}, {"object", "chat.completion.chunk"}, {"created", 0},
           {"model", model},           {"choices", json::array()},          {"usage", usage()}}
          .dump() +
      "\n\n";
  events += "data: [DONE]\n\n";
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", events.size());
  std::string out =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Transfer-Encoding: chunked\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  out += size;
  out += events;
  out += "\r\n0\r\n\r\n";
  return out;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Config& config) : socket_(std::move(socket)), config_(config) {}

  void start() {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    read();
  }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(chunk_), [self = shared_from_this()](
                                                      boost::system::error_code ec, std::size_t n) {
      if (ec) return;
      self->in_.append(self->chunk_.data(), n);
      self->process();
    });
  }

  // Answers every complete request in the buffer (pipelined ones too), then reads on.
  void process() {
    std::string out;
    bool close = false;
    for (;;) {
      std::size_t head_end = in_.find("\r\n\r\n");
      if (head_end == std::string::npos) {
        if (in_.size() > kMaxRequestBytes) return;  // drop the connection
        break;
      }
      std::string_view head(in_.data(), head_end);
      std::size_t line_end = head.find("\r\n");
      std::string_view line = head.substr(0, line_end);
      std::size_t sp1 = line.find(' ');
      std::size_t sp2 = line.find(' ', sp1 + 1);
      if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) return;
      std::string_view method = line.substr(0, sp1);
      std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      std::size_t length = 0;
      std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        std::size_t end = head.find("\r\n", pos);
        if (end == std::string_view::npos) end = head.size();
        std::string_view h = head.substr(pos, end - pos);
        std::size_t colon = h.find(':');
        if (colon != std::string_view::npos) {
          std::string_view name = h.substr(0, colon);
          std::string_view value = h.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
          if (iequals(name, "content-length"))
            std::from_chars(value.data(), value.data() + value.size(), length);
          else if (iequals(name, "connection") && iequals(value, "close"))
            close = true;
        }
        pos = end + 2;
      }
      if (length > kMaxRequestBytes) return;
      std::size_t total = head_end + 4 + length;
      if (in_.size() < total) break;
      std::string_view body(in_.data() + head_end + 4, length);
      out += answer(method, target, body, close);
      in_.erase(0, total);
      if (close) break;
    }
    if (out.empty()) return read();
    out_ = std::move(out);
    asio::async_write(
        socket_, asio::buffer(out_),
        [self = shared_from_this(), close](boost::system::error_code ec, std::size_t) {
          if (ec) return;
          if (close) {
            boost::system::error_code ignored;
            self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
            return;
          }
          self->process();
        });
  }

  std::string answer(std::string_view method, std::string_view target, std::string_view body,
                     bool close) {
    if (method == "GET" && target == "/health")
      return whole(200, "OK", "application/json", R"({"status":"ok"})", close);
    if (method == "GET" && target == "/v1/models")
      return whole(200, "OK", "application/json", config_.models_body, close);
    if (method != "POST" || target != "/v1/chat/completions")
      return whole(404, "Not Found", "application/json",
                   R"({"error":{"message":"no such route","type":"invalid_request_error"}})",
                   close);
    json request = json::parse(body, nullptr, false);
    if (!request.is_object() || !request.contains("messages"))
      return whole(400, "Bad Request", "application/json",
                   R"({"error":{"message":"not a chat request","type":"invalid_request_error"}})",
                   close);
    std::string model = request.value("model", config_.models.front());
    bool stream = request.value("stream", false);
    if (close) {
      return stream ? event_stream(model, close)
                    : whole(200, "OK", "application/json", completion(model), close);
    }
    auto [at, fresh] = config_.answers.try_emplace({model, stream});
    if (fresh)
      at->second = stream ? event_stream(model, false)
                          : whole(200, "OK", "application/json", completion(model), false);
    return at->second;
  }

  tcp::socket socket_;
  Config& config_;  // one thread: the answer cache needs no lock
  std::array<char, 16 * 1024> chunk_{};
  std::string in_, out_;
};

void accept(tcp::acceptor& acceptor, Config& config) {
  acceptor.async_accept([&acceptor, &config](boost::system::error_code ec, tcp::socket socket) {
    if (!ec) std::make_shared<Session>(std::move(socket), config)->start();
    if (ec != asio::error::operation_aborted) accept(acceptor, config);
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  Config config;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if ((a == "--listen" || a == "--model") && i + 1 < argc) {
      (a == "--listen" ? listen : config.models.emplace_back()) = argv[++i];
    } else {
      std::cerr << "usage: fedai_instant_runner [--listen HOST:PORT] [--model NAME]...\n";
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (config.models.empty()) config.models.push_back("bench-model");
  json data = json::array();
  for (const auto& m : config.models)
    data.push_back({{"id", m}, {"object", "model"}, {"created", 0}, {"owned_by", "bench"}});
  config.models_body = json{{"object", "list"}, {"data", data}}.dump();

  std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "fedai_instant_runner: --listen wants HOST:PORT\n";
    return 2;
  }
  try {
    asio::io_context io(1);
    tcp::endpoint endpoint(asio::ip::make_address(listen.substr(0, colon)),
                           static_cast<unsigned short>(std::stoi(listen.substr(colon + 1))));
    tcp::acceptor acceptor(io, endpoint);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) { io.stop(); });
    accept(acceptor, config);
    auto bound = acceptor.local_endpoint();
    std::cout << "runner: http://" << bound.address().to_string() << ":" << bound.port()
              << std::endl;
    io.run();
  } catch (const std::exception& e) {
    std::cerr << "fedai_instant_runner: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
