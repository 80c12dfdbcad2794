#include "server/connections.h"

#include <vector>

namespace keytrail::server {

uint64_t ConnectionRegistry::Add(std::function<void()> stop) {
  std::lock_guard lock(mu_);
  if (stopping_) return 0;
  const uint64_t id = next_id_++;
  stops_.emplace(id, std::move(stop));
  return id;
}

void ConnectionRegistry::Remove(uint64_t id) {
  std::lock_guard lock(mu_);
  stops_.erase(id);
  if (stops_.empty()) empty_.notify_all();
}

void ConnectionRegistry::StopAll() {
  std::vector<std::function<void()>> stops;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [id, stop] : stops_) stops.push_back(stop);
  }
  for (auto& stop : stops) stop();
}

bool ConnectionRegistry::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

bool ConnectionRegistry::WaitEmpty(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return empty_.wait_for(lock, timeout, [&] { return stops_.empty(); });
}

HttpResponse ServerShared::ErrorResponse(int status, std::string_view code,
                                         std::string_view detail) const {
  if (options.error_response) return options.error_response(status, code, detail);
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::string(code) + ": " + std::string(detail) + "\n";
  return response;
}

}  // namespace keytrail::server
