#include "tests/support/relay_processes.h"

#include <signal.h>

#include <stdexcept>

namespace fedai::test {

std::string wait_for_relay_url(ChildProcess& child) {
  auto line = child.wait_for_line("relay: ", kRelayStartTimeout);
  if (!line) throw std::runtime_error("the relay did not start (no 'relay:' line)");
  return line->substr(7);
}

IndependentRelay::IndependentRelay(IndependentRelayOptions options) {
  std::vector<std::string> argv{FEDAI_NODE,
                                std::string(FEDAI_INTEROP_DIR) + "/independent_relay.mjs", "--port",
                                std::to_string(options.port)};
  if (!options.db.empty()) argv.insert(argv.end(), {"--db", options.db});
  if (options.auth) argv.push_back("--auth");
  if (options.gated) argv.push_back("--gated");
  if (options.log_req) argv.push_back("--log-req");
  if (!options.tls_cert.empty())
    argv.insert(argv.end(), {"--tls-cert", options.tls_cert, "--tls-key", options.tls_key});
  process_ = std::make_unique<ChildProcess>(std::move(argv));
  url_ = wait_for_relay_url(*process_);
  port_ = std::stoi(url_.substr(url_.rfind(':') + 1));
}

void IndependentRelay::kill() {
  process_->kill(SIGKILL);
}

ScriptedRelay::ScriptedRelay(const std::string& script_file, bool no_pong) {
  std::vector<std::string> argv{FEDAI_NODE, std::string(FEDAI_INTEROP_DIR) + "/scripted_relay.mjs",
                                "--script", script_file};
  if (no_pong) argv.push_back("--no-pong");
  process_ = std::make_unique<ChildProcess>(std::move(argv));
  url_ = wait_for_relay_url(*process_);
}

}  // namespace fedai::test
