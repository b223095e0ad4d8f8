// fedai: one executable, one subcommand per job.
#include <iostream>

#include "agents/cli/cli.h"

int main(int argc, char** argv) {
  using namespace fedai::cli;
  CLI::App app{
      "fedai: a federated, pay-as-you-go AI inference market on Nostr.\n"
      "Nodes sell inference, routers auction jobs to them over Nostr relays, and the work moves\n"
      "peer to peer over HTTP. Every message is a signed Nostr event."};
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  app.require_subcommand(1);

  Action action;
  add_key_commands(app, action);
  add_event_commands(app, action);
  add_nip19_commands(app, action);
  add_nip44_commands(app, action);
  add_relay_commands(app, action);
  add_publish_commands(app, action);
  add_req_commands(app, action);
  add_agent_commands(app, action);
  add_devnet_commands(app, action);
  add_infer_commands(app, action);
  add_db_commands(app, action);
  add_bolt11_commands(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return action ? action() : 0;
  } catch (const CommandError& e) {
    std::cerr << "fedai: " << e.what() << "\n";
    return e.code;
  } catch (const std::exception& e) {
    std::cerr << "fedai: internal error: " << e.what() << "\n";
    return 70;  // EX_SOFTWARE
  }
}
