// Commands hold no thread while they wait for the log: the real HTTP server (2 io
// threads, real sockets) over an engine whose log is paused.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/api.h"
#include "server/bootstrap.h"
#include "server/http_server.h"
#include "tests/support/engine_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/status_matchers.h"

namespace keytrail::server {
namespace {

using nlohmann::json;

class AsyncCommandsTest : public testing::EngineFixture {
 protected:
  testing::EngineWorldOptions WorldOptions() const override {
    testing::EngineWorldOptions options;
    options.partitions = 1;
    options.engine.domain.max_active_keys = 100'000;
    options.engine.max_queued_commands = max_queued_;
    return options;
  }

  void SetUp() override {
    EngineFixture::SetUp();
    auto boot = Bootstrap(engine(), log(), "default");
    ASSERT_OK(boot);
    admin_ = std::string(boot->token->reveal());
    api_ = std::make_unique<Api>(engine(), clock_, ApiOptions{});
    api_->SetReady(true);
    auto http = HttpServer::Start({.listen = "127.0.0.1:0", .threads = 2},
                                  [this](const HttpRequest& r) { return api_->Handle(r); });
    ASSERT_OK(http);
    http_ = std::move(http).value();
  }

  void TearDown() override {
    log().ResumeAppends();
    http_->Shutdown(std::chrono::seconds(5));
  }

  testing::HttpClient::Response Create(testing::HttpClient& client, int n) {
    return client.Send("POST", "/v1/orgs/default/keys",
                       json{{"name", "waiting " + std::to_string(n)}, {"group", "viewer"}}.dump(),
                       {{"Authorization", "Bearer " + admin_}});
  }

  // Waits (bounded) until the log holds an append back.
  void WaitForPausedAppend() {
    for (int i = 0; i < 500 && log().paused_appends() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_GT(log().paused_appends(), 0);
  }

  size_t max_queued_ = 16384;
  std::string admin_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> http_;
};

TEST_F(AsyncCommandsTest, VerifyIsAnsweredWhileCreatesWaitForTheLog) {
  log().PauseAppends();
  constexpr int kCreates = 256;
  std::atomic<int> answered{0};
  std::vector<int> statuses(kCreates, 0);
  std::vector<std::thread> clients;
  for (int n = 0; n < kCreates; ++n) {
    clients.emplace_back([&, n] {
      testing::HttpClient client(http_->address());
      statuses[n] = Create(client, n).status;
      answered.fetch_add(1);
    });
  }
  WaitForPausedAppend();
  // Both io threads are free: verify, health and reads are answered at once.
  testing::HttpClient other(http_->address());
  for (int i = 0; i < 20; ++i) {
    auto verified = other.Send("POST", "/v1/verify", json{{"key", admin_}}.dump());
    ASSERT_EQ(verified.status, 200);
    EXPECT_EQ(json::parse(verified.body)["valid"], true);
  }
  EXPECT_EQ(other.Send("GET", "/healthz").status, 200);
  EXPECT_EQ(other.Send("GET", "/v1/orgs/default/keys", "", {{"Authorization", "Bearer " + admin_}})
                .status,
            200);
  EXPECT_EQ(answered.load(), 0) << "a create was answered before its events were durable";

  log().ResumeAppends();
  for (std::thread& t : clients) t.join();
  for (int n = 0; n < kCreates; ++n) EXPECT_EQ(statuses[n], 201) << n;
  EXPECT_EQ(engine().index().size(), kCreates + 1u);  // and the bootstrap key
}

class BoundedQueueTest : public AsyncCommandsTest {
 protected:
  BoundedQueueTest() { max_queued_ = 8; }
};

TEST_F(BoundedQueueTest, AFullQueueIsAnswered503WithRetryAfterAndLosesNothing) {
  log().PauseAppends();
  testing::HttpClient first(http_->address());
  std::thread in_append([&] { EXPECT_EQ(Create(first, 0).status, 201); });
  WaitForPausedAppend();  // one create is in the (held) append; the queue is empty
  constexpr int kMore = 20;
  std::vector<testing::HttpClient::Response> answers(kMore);
  std::vector<std::thread> clients;
  std::atomic<int> busy{0};
  for (int n = 1; n <= kMore; ++n) {
    clients.emplace_back([&, n] {
      testing::HttpClient client(http_->address());
      answers[n - 1] = Create(client, n);
      if (answers[n - 1].status == 503) busy.fetch_add(1);
    });
  }
  // 8 wait in the queue; the other 12 are refused at once, while the log still waits.
  for (int i = 0; i < 500 && busy.load() < kMore - 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(busy.load(), kMore - 8);
  log().ResumeAppends();
  in_append.join();
  for (std::thread& t : clients) t.join();
  int created = 0;
  for (const auto& answer : answers) {
    if (answer.status == 201) {
      ++created;
    } else {
      EXPECT_EQ(answer.status, 503);
      EXPECT_EQ(answer.Header("retry-after"), "1");
      EXPECT_NE(answer.body.find("busy"), std::string::npos) << answer.body;
    }
  }
  EXPECT_EQ(created, 8);
}

}  // namespace
}  // namespace keytrail::server
