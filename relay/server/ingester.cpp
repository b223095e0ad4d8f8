#include "relay/server/ingester.h"
#include "core/util/overloaded.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/nostr/nip40.h"
#include "relay/server/nip42.h"

namespace fedai::relay::server {
namespace {

// Items taken per batch: small enough that answers flow while a flood is being verified.
constexpr std::size_t kBatch = 64;

std::string event_head(std::string_view sub) {
  std::string head = "[\"EVENT\",";
  append_json_string(head, sub);
  head += ',';
  return head;
}

}  // namespace

Ingester::Ingester(const RelayOptions& options, std::string relay_url, RelayMetrics& metrics,
                   Queues& queues, Outbox& outbox)
    : options_(options),
      relay_url_(std::move(relay_url)),
      metrics_(metrics),
      queues_(queues),
      outbox_(outbox),
      pubkey_limiter_(options.pubkey_events_per_second, options.pubkey_burst) {
  limits_.max_message_bytes = options.max_message_bytes;
  limits_.max_subscription_id = options.max_subid_length;
  limits_.event.max_json_bytes = options.max_message_bytes;
  limits_.event.max_tags = options.max_event_tags;
  limits_.filter.max_json_bytes = options.max_message_bytes;
  limits_.filter.max_filters = options.max_filters;
}

Ingester::~Ingester() {
  join();
}

void Ingester::start() {
  for (auto& q : queues_.ingest) threads_.emplace_back([this, queue = q.get()] { run(*queue); });
}

void Ingester::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void Ingester::run(BoundedQueue<IngestItem>& queue) {
  Worker w;
  std::vector<IngestItem> items;
  items.reserve(kBatch);
  while (queue.pop_all(items, std::chrono::steady_clock::time_point::max(), kBatch)) {
    for (auto& item : items) handle(w, item);
    items.clear();
    flush(w);
  }
  // Shutting down: nothing more will be read; tell fan-out the connections are gone.
  for (auto& [conn, state] : w.conns) state.closed->store(true);
}

void Ingester::flush(Worker& w) {
  if (!w.writes.empty()) queues_.write.push_all(w.writes);
  if (!w.fanout.empty()) queues_.fanout.push_all(w.fanout);
  outbox_.push(w.replies);
}

void Ingester::handle(Worker& w, IngestItem& item) {
  std::visit(
      Overloaded{
          [&](IngestOpen& m) {
            ConnState& s = w.conns[m.conn];
            s.challenge = std::move(m.challenge);
            s.peer = std::move(m.peer);
          },
          [&](IngestText& m) {
            auto it = w.conns.find(m.conn);
            if (it == w.conns.end()) return;  // closed meanwhile
            try {
              handle_text(w, m.conn, it->second, m.text);
            } catch (const std::exception& e) {
              // The message boundary: whatever went wrong, the connection gets an
              // answer and the thread goes on.
              spdlog::error("conn {}: internal error handling a message: {}", m.conn, e.what());
              reply(w, m.conn, notice_message("error: internal error"), ErrorCode::error);
            }
          },
          [&](IngestClosed& m) {
            auto it = w.conns.find(m.conn);
            if (it == w.conns.end()) return;
            it->second.closed->store(true);
            for (auto& [sub, s] : it->second.subs) s.canceled->store(true);
            w.fanout.push_back(FanConnClosed{m.conn});
            w.conns.erase(it);
          },
          [&](IngestSubEnded& m) {
            auto it = w.conns.find(m.conn);
            if (it == w.conns.end()) return;
            std::erase_if(it->second.subs,
                          [&](const auto& entry) { return entry.second.serial == m.serial; });
          },
      },
      item);
}

void Ingester::handle_text(Worker& w, ConnId conn, ConnState& state, std::string_view text) {
  auto parsed = parse_client_message(text, limits_);
  if (auto* err = std::get_if<ClientMessageError>(&parsed)) {
    metrics_.message(err->verb);
    handle_error(w, conn, state, *err);
    return;
  }
  auto& msg = std::get<ClientMessage>(parsed);
  std::visit(Overloaded{
                 [&](ClientEvent& m) {
                   metrics_.message("EVENT");
                   handle_event(w, conn, state, std::move(m.event));
                 },
                 [&](ClientReq& m) {
                   metrics_.message("REQ");
                   handle_req(w, conn, state, std::move(m));
                 },
                 [&](ClientClose& m) {
                   metrics_.message("CLOSE");
                   handle_close(w, conn, state, m.subscription_id);
                 },
                 [&](ClientCount& m) {
                   metrics_.message("COUNT");
                   handle_count(w, conn, state, std::move(m));
                 },
                 [&](ClientAuth& m) {
                   metrics_.message("AUTH");
                   handle_auth(w, conn, state, m.event);
                 },
             },
             msg);
}

void Ingester::handle_error(Worker& w, ConnId conn, ConnState& state,
                            const ClientMessageError& err) {
  const std::string reason = err.error.to_string();
  if ((err.verb == "EVENT" || err.verb == "AUTH") && err.event_id) {
    metrics_.rejection(err.error.code);
    w.replies.push_back({conn, OutMsg::message(ok_message(*err.event_id, false, reason)), 1});
    return;
  }
  if ((err.verb == "REQ" || err.verb == "COUNT") && !err.subscription_id.empty()) {
    // The client will take the subscription as closed; make it so.
    if (err.verb == "REQ") cancel_subscription(w, conn, state, err.subscription_id);
    reply(w, conn, closed_message(err.subscription_id, reason), err.error.code);
    return;
  }
  reply(w, conn, notice_message(reason), err.error.code);
}

void Ingester::handle_event(Worker& w, ConnId conn, ConnState& state, Event&& e) {
  const UnixSeconds now = unix_now();
  if (options_.auth_required && state.authed.empty())
    return reply_ok(w, conn, e, EventOutcome::auth_required,
                    "auth-required: authenticate with NIP-42 AUTH before publishing");
  if (e.kind == kAuthKind)
    return reply_ok(w, conn, e, EventOutcome::invalid,
                    "invalid: kind 22242 events are sent with AUTH, not published");
  if (std::binary_search(options_.block_authors.begin(), options_.block_authors.end(), e.pubkey))
    return reply_ok(w, conn, e, EventOutcome::blocked, "blocked: this author is not allowed here");
  if (!options_.allow_authors.empty() &&
      !std::binary_search(options_.allow_authors.begin(), options_.allow_authors.end(), e.pubkey))
    return reply_ok(w, conn, e, EventOutcome::blocked,
                    "blocked: this relay accepts events only from its allowed authors");
  if (!options_.allow_kinds.empty() &&
      !std::binary_search(options_.allow_kinds.begin(), options_.allow_kinds.end(), e.kind))
    return reply_ok(w, conn, e, EventOutcome::blocked,
                    "blocked: kind " + std::to_string(e.kind) + " is not accepted here");
  if (e.created_at > now + static_cast<UnixSeconds>(options_.max_future_seconds))
    return reply_ok(w, conn, e, EventOutcome::invalid,
                    "invalid: created_at is more than " +
                        std::to_string(options_.max_future_seconds) + " seconds in the future");
  auto expiration = expiration_of(e);
  if (!expiration)
    return reply_ok(w, conn, e, EventOutcome::invalid, expiration.error().to_string());
  if (*expiration && now >= **expiration)
    return reply_ok(w, conn, e, EventOutcome::expired, "invalid: event has expired");
  if (auto st = verify_event(e); !st)
    return reply_ok(w, conn, e, EventOutcome::invalid, st.error().to_string());
  if (!pubkey_limiter_.allow(e.pubkey, std::chrono::steady_clock::now()))
    return reply_ok(w, conn, e, EventOutcome::rate_limited,
                    "rate-limited: this author is publishing too fast");

  auto json = std::make_shared<const std::string>(to_json(e));
  if (is_ephemeral(e.kind)) {
    w.fanout.push_back(FanEphemeral{conn, std::move(e), std::move(json)});
  } else {
    w.writes.push_back(WriteItem{conn, std::move(e), std::move(json)});
  }
}

void Ingester::cancel_subscription(Worker& w, ConnId conn, ConnState& state,
                                   const std::string& sub) {
  auto it = state.subs.find(sub);
  if (it == state.subs.end()) return;
  it->second.canceled->store(true);
  w.fanout.push_back(FanUnsubscribe{conn, it->second.serial});
  state.subs.erase(it);
}

void Ingester::handle_req(Worker& w, ConnId conn, ConnState& state, ClientReq&& req) {
  const std::string& sub = req.subscription_id;
  if (options_.auth_required && state.authed.empty()) {
    cancel_subscription(w, conn, state, sub);
    return reply(w, conn,
                 closed_message(sub, "auth-required: authenticate with NIP-42 AUTH to subscribe"),
                 ErrorCode::auth_required);
  }
  // A REQ with an open subscription's id replaces it (NIP-01).
  cancel_subscription(w, conn, state, sub);
  if (state.subs.size() >= options_.max_subscriptions)
    return reply(w, conn,
                 closed_message(sub, "blocked: too many open subscriptions (at most " +
                                         std::to_string(options_.max_subscriptions) + ")"),
                 ErrorCode::blocked);

  Subscription s{next_serial_.fetch_add(1), std::make_shared<std::atomic<bool>>(false)};
  auto head = std::make_shared<const std::string>(event_head(sub));
  // The live subscription is registered with fan-out before the query can start, so an event
  // stored while the query runs is either in the query's snapshot or delivered live (maybe
  // both: a duplicate across EOSE, never a gap). Fan-out holds live events back until EOSE.
  w.fanout.push_back(FanSubscribe{conn, s.serial, head, req.filters});
  queues_.fanout.push_all(w.fanout);
  QueryItem q = QueryReq{conn, s.serial, sub, std::move(head), std::move(req.filters), s.canceled};
  if (!queues_.query_for(conn).try_push(q)) {
    queues_.fanout.push(FanUnsubscribe{conn, s.serial});
    return reply(w, conn,
                 closed_message(sub, "rate-limited: too many queries waiting, try again later"),
                 ErrorCode::rate_limited);
  }
  state.subs.emplace(sub, std::move(s));
  done(w, conn);
}

void Ingester::handle_close(Worker& w, ConnId conn, ConnState& state, const std::string& sub) {
  cancel_subscription(w, conn, state, sub);
  done(w, conn);
}

void Ingester::handle_count(Worker& w, ConnId conn, ConnState& state, ClientCount&& count) {
  const std::string& sub = count.subscription_id;
  if (options_.auth_required && state.authed.empty())
    return reply(w, conn,
                 closed_message(sub, "auth-required: authenticate with NIP-42 AUTH to count"),
                 ErrorCode::auth_required);
  QueryItem q = QueryCount{conn, sub, std::move(count.filters), state.closed};
  if (!queues_.query_for(conn).try_push(q))
    return reply(w, conn,
                 closed_message(sub, "rate-limited: too many queries waiting, try again later"),
                 ErrorCode::rate_limited);
  done(w, conn);
}

void Ingester::handle_auth(Worker& w, ConnId conn, ConnState& state, const Event& e) {
  auto st = check_auth_event(e, state.challenge, relay_url_, unix_now());
  if (!st) {
    metrics_.auth_failed.inc();
    metrics_.rejection(st.error().code);
    w.replies.push_back(
        {conn, OutMsg::message(ok_message(e.id, false, st.error().to_string())), 1});
    return;
  }
  metrics_.auth_ok.inc();
  if (std::find(state.authed.begin(), state.authed.end(), e.pubkey) == state.authed.end())
    state.authed.push_back(e.pubkey);
  spdlog::debug("conn {}: authenticated as {}", conn, e.pubkey.hex());
  w.replies.push_back({conn, OutMsg::message(ok_message(e.id, true, "")), 1});
}

void Ingester::reply_ok(Worker& w, ConnId conn, const Event& e, EventOutcome outcome,
                        const std::string& reason) {
  metrics_.event(e.kind, outcome);
  auto colon = reason.find(':');
  std::string_view prefix = std::string_view(reason).substr(0, colon);
  for (ErrorCode code : {ErrorCode::invalid, ErrorCode::duplicate, ErrorCode::blocked,
                         ErrorCode::rate_limited, ErrorCode::auth_required, ErrorCode::error})
    if (prefix_of(code) == prefix) metrics_.rejection(code);
  w.replies.push_back({conn, OutMsg::message(ok_message(e.id, false, reason)), 1});
}

void Ingester::reply(Worker& w, ConnId conn, std::string message, ErrorCode code, bool refusal) {
  if (refusal) metrics_.rejection(code);
  w.replies.push_back({conn, OutMsg::message(std::move(message)), 1});
}

void Ingester::done(Worker& w, ConnId conn) {
  w.replies.push_back({conn, OutMsg{}, 1});
}

}  // namespace fedai::relay::server
