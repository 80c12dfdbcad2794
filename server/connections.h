// ConnectionRegistry: the open connections of one HttpServer, so Shutdown can tell each
// to stop and wait until all are gone. Transport-internal (server/*.cc only).
//
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "server/http_server.h"

namespace keytrail::server {

class ConnectionRegistry {
 public:
  // Registers a connection; `stop` is called (from any thread) when the server stops.
  // Returns 0, without registering, if the server is already stopping.
  uint64_t Add(std::function<void()> stop);
  void Remove(uint64_t id);
  // Marks the registry stopping and calls every registered stop function.
  void StopAll();
  bool stopping() const;
  // Waits until no connection is registered; false if `timeout` ran out first.
  bool WaitEmpty(std::chrono::milliseconds timeout);

 private:
  mutable std::mutex mu_;
  std::condition_variable empty_;
  std::map<uint64_t, std::function<void()>> stops_;  // guarded by mu_
  uint64_t next_id_ = 1;                             // guarded by mu_
  bool stopping_ = false;                            // guarded by mu_
};

// What the listener and every session of one server share.
struct ServerShared {
  HttpServer::Options options;
  HttpServer::RequestHandler handler;
  ConnectionRegistry connections;

  // options.error_response, or a text/plain fallback.
  HttpResponse ErrorResponse(int status, std::string_view code, std::string_view detail) const;
};

}  // namespace keytrail::server
