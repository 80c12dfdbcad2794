#include "server/deferred.h"

#include "base/thread_name.h"
#include "server/log.h"

namespace keytrail::server {

BlockingLane::BlockingLane(int threads, size_t max_queued) : max_queued_(max_queued) {
  for (int i = 0; i < threads; ++i)
    threads_.emplace_back([this] {
      NameThisThread("kt-blocking");
      Loop();
    });
}

BlockingLane::~BlockingLane() { Stop(); }

void BlockingLane::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

bool BlockingLane::Run(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || jobs_.size() >= max_queued_) return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void BlockingLane::Loop() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and nothing left
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

HttpResponse InternalErrorResponse(const std::exception& e) {
  Log(LogLevel::kError, "handler threw", {{"error", e.what()}});
  return Problem(500, "internal", "internal error");
}

HttpResponse BusyResponse(std::string_view detail) {
  HttpResponse response = Problem(503, "busy", detail);
  response.SetHeader("Retry-After", "1");
  return response;
}

HttpResponse OffIoThread(BlockingLane& lane, std::function<HttpResponse()> work) {
  HttpResponse response;
  response.later = [&lane, work = std::move(work)](Responder responder) {
    const bool queued = lane.Run([work, responder] {
      HttpResponse out;
      try {
        out = work();
      } catch (const std::exception& e) {
        out = InternalErrorResponse(e);
      }
      auto held = std::make_shared<HttpResponse>(std::move(out));
      responder.post([responder, held] { responder.respond(std::move(*held)); });
    });
    if (!queued) {
      responder.respond(BusyResponse("too many requests are waiting for slow work; retry"));
    }
  };
  return response;
}

}  // namespace keytrail::server
