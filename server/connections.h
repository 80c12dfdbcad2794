// ConnectionRegistry: the open connections of one HttpServer, so Shutdown can tell each
// to stop and wait until all are gone. Transport-internal (server/*.cc only).
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "server/http_server.h"

namespace keytrail::server {

class ConnectionRegistry {
 public:
  // Registers a connection; `stop` is called (from any thread) when the server stops;
  // `shed` to make room for a new connection (it closes the connection if it is still
  // reading a request); `reading` is the connection's own flag, true while it waits for
  // (or reads) a request. Returns 0, without registering, if the server is stopping.
  uint64_t Add(std::function<void()> stop, std::function<void()> shed,
               std::shared_ptr<const std::atomic<bool>> reading);
  void Remove(uint64_t id);
  size_t size() const;
  // Sheds the oldest connection that is reading (idle, or slow to send its request);
  // false if every connection is busy with a request.
  bool ShedOldestIdle();
  // Marks the registry stopping and calls every registered stop function.
  void StopAll();
  bool stopping() const;
  // Waits until no connection is registered; false if `timeout` ran out first.
  bool WaitEmpty(std::chrono::milliseconds timeout);

 private:
  mutable std::mutex mu_;
  std::condition_variable empty_;
  struct Entry {
    std::function<void()> stop;
    std::function<void()> shed;
    std::shared_ptr<const std::atomic<bool>> reading;
  };
  std::map<uint64_t, Entry> entries_;  // guarded by mu_; by id, so oldest first
  uint64_t next_id_ = 1;               // guarded by mu_
  bool stopping_ = false;              // guarded by mu_
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
