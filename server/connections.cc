#include "server/connections.h"

#include <vector>

namespace keytrail::server {

uint64_t ConnectionRegistry::Add(std::function<void()> stop, std::function<void()> shed,
                                 std::shared_ptr<const std::atomic<bool>> reading) {
  std::lock_guard lock(mu_);
  if (stopping_) return 0;
  const uint64_t id = next_id_++;
  entries_.emplace(id, Entry{std::move(stop), std::move(shed), std::move(reading)});
  return id;
}

void ConnectionRegistry::Remove(uint64_t id) {
  std::lock_guard lock(mu_);
  entries_.erase(id);
  if (entries_.empty()) empty_.notify_all();
}

size_t ConnectionRegistry::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

bool ConnectionRegistry::ShedOldestIdle() {
  std::function<void()> shed;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, entry] : entries_) {
      if (entry.reading->load(std::memory_order_acquire)) {
        shed = entry.shed;
        break;
      }
    }
  }
  if (!shed) return false;
  shed();
  return true;
}

void ConnectionRegistry::StopAll() {
  std::vector<std::function<void()>> stops;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [id, entry] : entries_) stops.push_back(entry.stop);
  }
  for (auto& stop : stops) stop();
}

bool ConnectionRegistry::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

bool ConnectionRegistry::WaitEmpty(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return empty_.wait_for(lock, timeout, [&] { return entries_.empty(); });
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
