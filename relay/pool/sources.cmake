# The relay pool (client side): included by relay/CMakeLists.txt.
list(APPEND FEDAI_RELAY_SOURCES
  pool/backoff.cpp
  pool/catch_up.cpp
  pool/delivery_thread.cpp
  pool/event_verifier.cpp
  pool/host_resolver.cpp
  pool/lws_timer.cpp
  pool/pool_connection.cpp
  pool/pool_inbound.cpp
  pool/pool_information.cpp
  pool/pool_publish.cpp
  pool/publish_result.cpp
  pool/relay_counters.cpp
  pool/relay_information.cpp
  pool/relay_pool.cpp
  pool/relay_status.cpp
  pool/relay_url.cpp
  pool/seen_events.cpp
)
