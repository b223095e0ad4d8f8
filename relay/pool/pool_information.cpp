// NIP-11: GET the relay's information document over HTTP(S). Service thread only.
#include <cstring>

#include <spdlog/spdlog.h>

#include "relay/pool/pool_impl.h"

namespace fedai::relay {
namespace {

constexpr std::size_t kMaxDocumentBytes = 256 * 1024;

bool add_header(lws* wsi, const char* name, const std::string& value, unsigned char** p,
                unsigned char* end) {
  return lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(name),
                                     reinterpret_cast<const unsigned char*>(value.data()),
                                     static_cast<int>(value.size()), p, end) == 0;
}

}  // namespace

void RelayPool::Impl::fetch_information(std::string url, RelayUrl target,
                                        std::chrono::milliseconds timeout,
                                        InformationCallback callback) {
  auto owned = std::make_unique<InformationFetch>();
  InformationFetch& fetch = *owned;
  fetch.id = next_fetch++;
  fetch.url = std::move(url);
  fetch.target = std::move(target);
  fetch.callback = std::move(callback);
  std::uint64_t id = fetch.id;
  fetch.timer = std::make_unique<LwsTimer>(loop->context(), [this, id, timeout] {
    auto it = fetches.find(id);
    if (it == fetches.end()) return;
    finish_fetch(*it->second,
                 make_error(ErrorCode::error,
                            "no answer within " + std::to_string(timeout.count()) + " ms"));
  });
  fetch.timer->schedule(timeout);
  fetches.emplace(id, std::move(owned));

  resolver.resolve(fetch.target.host, fetch.target.port, [this, id](Result<std::string> address) {
    loop->post([this, id, address = std::move(address)] {
      if (shutting_down) return;
      auto it = fetches.find(id);
      if (it == fetches.end()) return;
      InformationFetch& f = *it->second;
      if (!address) {
        finish_fetch(f, address.error());
        return;
      }
      Conn* conn = new_conn(Conn::Kind::information);
      conn->fetch = &f;
      f.conn = conn;
      std::string host = f.target.host_header();
      lws_client_connect_info info{};
      info.context = loop->context();
      info.address = address->c_str();
      info.port = f.target.port;
      info.ssl_connection = f.target.secure ? LCCSCF_USE_SSL : 0;
      info.path = f.target.path.c_str();
      info.host = host.c_str();
      info.origin = host.c_str();
      info.method = "GET";
      info.alpn = "http/1.1";
      info.local_protocol_name = "fedai-relay-information";
      info.opaque_user_data = conn;
      info.pwsi = &conn->wsi;
      if (lws_client_connect_via_info(&info) == nullptr && conn->fetch == &f)
        finish_fetch(f, make_error(ErrorCode::error, "cannot connect to " + *address));
    });
  });
}

void RelayPool::Impl::finish_fetch(InformationFetch& fetch, Result<RelayInformation> result) {
  if (fetch.conn != nullptr) {
    Conn* conn = fetch.conn;
    fetch.conn = nullptr;
    conn->fetch = nullptr;
    if (conn->wsi != nullptr)
      lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  }
  post_callback([cb = std::move(fetch.callback), url = fetch.url, r = std::move(result)]() mutable {
    if (cb) cb(url, std::move(r));
  });
  fetches.erase(fetch.id);  // `fetch` is gone after this
}

int RelayPool::Impl::information_callback(Conn& conn, lws* wsi, lws_callback_reasons reason,
                                          void* in, std::size_t len) {
  InformationFetch* fetch = conn.fetch;
  if (fetch == nullptr) return reason == LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ ? -1 : 0;
  switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      auto** p = static_cast<unsigned char**>(in);
      unsigned char* end = *p + len;
      if (!add_header(wsi, "accept:", "application/nostr+json", p, end)) return -1;
      if (!options.user_agent.empty() &&
          !add_header(wsi, "user-agent:", options.user_agent, p, end))
        return -1;
      return 0;
    }
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
      fetch->http_status = static_cast<int>(lws_http_client_http_response(wsi));
      return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
      char buffer[LWS_PRE + 4096];
      char* p = buffer + LWS_PRE;
      int n = static_cast<int>(sizeof buffer - LWS_PRE);
      if (lws_http_client_read(wsi, &p, &n) < 0) return -1;
      return 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
      if (fetch->body.size() + len > kMaxDocumentBytes) {
        finish_fetch(
            *fetch, make_error(ErrorCode::error, "information document larger than " +
                                                     std::to_string(kMaxDocumentBytes) + " bytes"));
        return -1;
      }
      fetch->body.append(static_cast<const char*>(in), len);
      return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP: {
      if (fetch->http_status != 200) {
        finish_fetch(*fetch, make_error(ErrorCode::error,
                                        "HTTP status " + std::to_string(fetch->http_status)));
        return 0;
      }
      auto parsed = parse_relay_information(fetch->body);
      finish_fetch(*fetch, std::move(parsed));
      return 0;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      std::string why = in != nullptr
                            ? std::string(static_cast<const char*>(in),
                                          len > 0 ? len : std::strlen(static_cast<const char*>(in)))
                            : "connection failed";
      conn.fetch = nullptr;
      fetch->conn = nullptr;
      finish_fetch(*fetch, make_error(ErrorCode::error, why));
      return 0;
    }
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
      conn.fetch = nullptr;
      fetch->conn = nullptr;
      finish_fetch(*fetch, make_error(ErrorCode::error, "connection closed before the document"));
      return 0;
    default:
      return 0;
  }
}

}  // namespace fedai::relay
