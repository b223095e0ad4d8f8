# The embedded relay server (`fedai relay`), included by relay/CMakeLists.txt.
list(APPEND FEDAI_RELAY_SOURCES
  server/fanout.cpp
  server/ingester.cpp
  server/message_peek.cpp
  server/nip11.cpp
  server/nip42.cpp
  server/pubkey_rate_limiter.cpp
  server/query_worker.cpp
  server/relay_metrics.cpp
  server/relay_options.cpp
  server/relay_server.cpp
  server/writer.cpp
  server/ws_frontend.cpp
)
# The version the NIP-11 document and the plain-text page report.
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/nip11.cpp PROPERTIES
  COMPILE_DEFINITIONS "FEDAI_VERSION=\"${PROJECT_VERSION}\"")
