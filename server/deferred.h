// Responses given later (HttpResponse::later), so that no io thread waits:
//   AfterCommand  a command goes to its partition's writer; the answer is built on the
//                 connection's io thread once the command is durable and applied (or
//                 refused). No thread waits meanwhile.
//   OffIoThread   work that has to block (a multi-step org set-up, a forwarded command)
//                 runs on the BlockingLane's threads, and its response is written from
//                 the io thread. (/readyz's probe of the log has a thread of its own:
//                 server/readiness.h.)
// Server-internal.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/status.h"
#include "server/http.h"
#include "server/problem.h"

namespace keytrail::server {

// A few threads for the rare requests that must block, so that the io threads never do.
// At most `max_queued` jobs wait; Run refuses more (the caller answers 503). Thread-safe;
// the destructor runs what is queued, then joins.
class BlockingLane {
 public:
  BlockingLane(int threads, size_t max_queued);
  ~BlockingLane();
  BlockingLane(const BlockingLane&) = delete;
  BlockingLane& operator=(const BlockingLane&) = delete;

  // Queues `job`; false (and `job` is dropped) when the queue is full or stopped.
  bool Run(std::function<void()> job);
  // Runs what is queued, takes no more, and joins. Idempotent; one thread at a time.
  void Stop();

 private:
  void Loop();

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::vector<std::thread> threads_;
};

// The 500 for an exception in a handler (logged with its message).
HttpResponse InternalErrorResponse(const std::exception& e);

// The 503 for a full queue (Retry-After: 1).
HttpResponse BusyResponse(std::string_view detail);

// The response to a command: start(done) submits it (done may be called on any thread,
// once); answer(result) turns the outcome into the response on the io thread. An
// exception in answer is a 500.
template <typename T>
HttpResponse AfterCommand(std::function<void(std::function<void(Result<T>)>)> start,
                          std::function<HttpResponse(Result<T>&)> answer) {
  HttpResponse response;
  response.later = [start = std::move(start), answer = std::move(answer)](Responder responder) {
    start([responder, answer](Result<T> result) {
      auto held = std::make_shared<Result<T>>(std::move(result));
      responder.post([responder, answer, held] {
        HttpResponse out;
        try {
          out = answer(*held);
        } catch (const std::exception& e) {
          out = InternalErrorResponse(e);
        }
        responder.respond(std::move(out));
      });
    });
  };
  return response;
}

// The response `work()` gives, computed on `lane` (or a 503 if its queue is full).
HttpResponse OffIoThread(BlockingLane& lane, std::function<HttpResponse()> work);

}  // namespace keytrail::server
