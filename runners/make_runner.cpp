#include <cctype>

#include "runners/adapters.h"
#include "runners/url.h"

namespace fedai::runners {

namespace {

// "http://host:port/prefix/" -> "http://host:port/prefix": adapters append "/v1/...".
Result<std::string> base_url(std::string_view kind, std::string_view url) {
  auto parsed = parse_http_url(url);
  if (!parsed) return parsed.error();
  if (parsed->target.find('?') != std::string::npos)
    return invalid("runner url: no query string expected");
  std::string path = parsed->target;
  while (!path.empty() && path.back() == '/') path.pop_back();
  // The OpenAI SDKs' convention includes /v1 in the base URL; accept both spellings.
  if (kind == "openai" && path.size() >= 3 && path.compare(path.size() - 3, 3, "/v1") == 0)
    path.resize(path.size() - 3);
  std::string base = "http://";
  if (parsed->ipv6) base += '[';
  base += parsed->host;
  if (parsed->ipv6) base += ']';
  base += ':';
  base += std::to_string(parsed->port);
  base += path;
  return base;
}

}  // namespace

Result<std::unique_ptr<Runner>> make_runner(boost::asio::io_context& io,
                                            const RunnerOptions& options) {
  return make_runner(boost::asio::make_strand(io), options);
}

Result<std::unique_ptr<Runner>> make_runner(ClientStrand strand, const RunnerOptions& options) {
  if (options.kind != "openai" && options.kind != "llamacpp" && options.kind != "ollama")
    return invalid("unknown runner kind '" + options.kind + "' (openai, llamacpp or ollama)");
  auto base = base_url(options.kind, options.base_url);
  if (!base) return base.error();
  if (options.api_key) {
    for (char c : *options.api_key) {
      auto u = static_cast<unsigned char>(c);
      if (u < 0x21 || u == 0x7f) return invalid("runner api key: control characters or spaces");
    }
  }
  if (options.connect_timeout.count() <= 0)
    return invalid("runner connect timeout must be positive");
  detail::Endpoint endpoint{std::move(*base), options.api_key, options.connect_timeout};
  std::unique_ptr<Runner> runner;
  if (options.kind == "openai") runner = detail::make_openai_runner(strand, std::move(endpoint));
  if (options.kind == "llamacpp")
    runner = detail::make_llamacpp_runner(strand, std::move(endpoint));
  if (options.kind == "ollama") runner = detail::make_ollama_runner(strand, std::move(endpoint));
  return runner;
}

}  // namespace fedai::runners
