#include "core/nostr/message.h"

#include <gtest/gtest.h>

namespace fedai {
namespace {

const Keypair& keys() {
  static Keypair k = Keypair::generate();
  return k;
}

Event sample() {
  return sign_event({1, 1700000000, {{"t", "x"}}, "hi"}, keys());
}

const ClientMessageError& client_error(const std::variant<ClientMessage, ClientMessageError>& r) {
  EXPECT_TRUE(std::holds_alternative<ClientMessageError>(r));
  return std::get<ClientMessageError>(r);
}

template <class T>
const T& client_ok(const std::variant<ClientMessage, ClientMessageError>& r) {
  if (auto* e = std::get_if<ClientMessageError>(&r)) ADD_FAILURE() << e->error.to_string();
  return std::get<T>(std::get<ClientMessage>(r));
}

TEST(ClientMessages, RoundTrip) {
  Event e = sample();
  EXPECT_EQ(client_ok<ClientEvent>(parse_client_message(event_message(e))).event, e);
  EXPECT_EQ(client_ok<ClientAuth>(parse_client_message(auth_message(e))).event, e);

  Filter f;
  f.kinds = std::vector<Kind>{1, 36090};
  f.limit = 5;
  Filter g;
  g.authors = std::vector<PublicKey>{keys().public_key()};
  auto req = client_ok<ClientReq>(parse_client_message(req_message("sub \"1\"", {f, g})));
  EXPECT_EQ(req.subscription_id, "sub \"1\"");
  ASSERT_EQ(req.filters.size(), 2u);
  EXPECT_EQ(req.filters[0], f);
  EXPECT_EQ(req.filters[1], g);
  EXPECT_EQ(client_ok<ClientClose>(parse_client_message(close_message("s"))).subscription_id, "s");
  auto count = client_ok<ClientCount>(parse_client_message(serialize(ClientCount{"c", {f}})));
  EXPECT_EQ(count.filters[0], f);
}

TEST(ClientMessages, Rejections) {
  EXPECT_EQ(client_error(parse_client_message("{}")).error.to_string(),
            "invalid: message must be a JSON array");
  EXPECT_EQ(client_error(parse_client_message("[\"EVENT\"")).error.to_string(),
            "invalid: EVENT message needs an event");
  EXPECT_TRUE(client_error(parse_client_message("[\"EVENT\",{\"id\":"))
                  .error.message.starts_with("malformed JSON"));
  EXPECT_EQ(client_error(parse_client_message("[\"HELLO\",1]")).error.to_string(),
            "invalid: unknown message type 'HELLO'");
  EXPECT_EQ(client_error(parse_client_message("[\"REQ\",\"\",{}]")).error.to_string(),
            "invalid: subscription id must not be empty");
  EXPECT_EQ(client_error(parse_client_message("[\"REQ\",\"" + std::string(65, 'a') + "\",{}]"))
                .error.to_string(),
            "invalid: subscription id longer than 64 characters");
  EXPECT_EQ(client_error(parse_client_message("[\"REQ\",\"s\"]")).error.to_string(),
            "invalid: at least one filter is required");
  auto bad_filter = client_error(parse_client_message("[\"REQ\",\"s\",{},{\"kinds\":[\"x\"]}]"));
  EXPECT_EQ(bad_filter.subscription_id, "s");
  EXPECT_TRUE(bad_filter.error.message.starts_with("filters[1]: ")) << bad_filter.error.message;
  EXPECT_EQ(client_error(parse_client_message("[\"CLOSE\",\"s\",1]")).error.to_string(),
            "invalid: too many elements in message");
}

TEST(ClientMessages, BadEventKeepsItsClaimedId) {
  Event e = sample();
  std::string msg = event_message(e);
  msg.replace(msg.find("\"kind\":1"), 8, "\"kind\":\"1\"");
  auto err = client_error(parse_client_message(msg));
  EXPECT_EQ(err.verb, "EVENT");
  ASSERT_TRUE(err.event_id);
  EXPECT_EQ(*err.event_id, e.id);
  EXPECT_EQ(err.error.to_string(), "invalid: kind must be an integer between 0 and 65535");
}

TEST(ClientMessages, SizeLimit) {
  MessageLimits limits;
  limits.max_message_bytes = 50;
  EXPECT_EQ(client_error(parse_client_message(event_message(sample()), limits)).error.to_string(),
            "invalid: message larger than 50 bytes");
}

TEST(RelayMessages, RoundTrip) {
  Event e = sample();
  std::vector<RelayMessage> all = {RelayEvent{"s", e},
                                   RelayOk{e.id, true, ""},
                                   RelayOk{e.id, false, "blocked: no"},
                                   RelayEose{"s"},
                                   RelayClosed{"s", "error: gone"},
                                   RelayNotice{"hello \"world\""},
                                   RelayAuth{"challenge"},
                                   RelayCount{"c", 42}};
  for (const auto& m : all) {
    auto back = parse_relay_message(serialize(m));
    ASSERT_TRUE(back) << serialize(m) << " " << back.error().to_string();
    EXPECT_EQ(serialize(*back), serialize(m));
  }
}

TEST(RelayMessages, ToleratesWhatRealRelaysSend) {
  // OK without a message, CLOSED without a reason, and extra trailing elements.
  auto ok = parse_relay_message("[\"OK\",\"" + std::string(64, 'a') + "\",true]");
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_TRUE(std::get<RelayOk>(*ok).accepted);
  EXPECT_TRUE(parse_relay_message("[\"CLOSED\",\"s\"]"));
  EXPECT_TRUE(parse_relay_message("[\"EOSE\",\"s\",{\"future\":1}]"));
  EXPECT_FALSE(parse_relay_message("[\"OK\",\"zz\",true,\"\"]"));
  EXPECT_FALSE(parse_relay_message("[\"COUNT\",\"s\",{}]"));
  EXPECT_FALSE(parse_relay_message("[\"EOSE\"]"));
}

}  // namespace
}  // namespace fedai
