// Many keytrail nodes on one Kafka cluster, driven as an operator would: `keytrail
// dev-kafka` and three `keytrail serve` processes on it, real HTTP, kill -9 and SIGSTOP.
// Every wait is a bounded poll of the condition, and propagation times are measured
// and reported as test properties, never asserted against a clock budget.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/api_client.h"
#include "tests/e2e/serve_process.h"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

namespace keytrail::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 4;

// Polls `done` every 5 ms for up to `limit`; true once it holds.
template <typename Fn>
bool Eventually(Fn done, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The value of `metric{partition="p"}` for every partition in a /metrics page.
std::map<int, int64_t> PerPartition(const std::string& page, const std::string& metric) {
  std::map<int, int64_t> out;
  const std::string prefix = metric + "{partition=\"";
  for (size_t at = page.find(prefix); at != std::string::npos; at = page.find(prefix, at + 1)) {
    const size_t p = at + prefix.size();
    const int partition = std::atoi(page.c_str() + p);
    const size_t space = page.find(' ', p);
    out[partition] = std::atoll(page.c_str() + space + 1);
  }
  return out;
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kafka_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        KEYTRAIL_BINARY, "dev-kafka", "--partitions", std::to_string(kPartitions)});
    ASSERT_TRUE(kafka_->started());
    ASSERT_TRUE(kafka_->ReadLine(&brokers_));
    // --kafka-config as a user writes it: a shorter session timeout moves partitions of a
    // dead node sooner.
    config_ = dir_.path() + "/kafka.properties";
    std::ofstream(config_) << "# keytrail nodes\nsession.timeout.ms=3000\n";
    for (const char* id : {"node-a", "node-b", "node-c"}) StartNode(id);
    ASSERT_EQ(nodes_[0]->banner().size(), 2u) << "node-a did not bootstrap (key, invitation)";
    std::ifstream token(dir_.path() + "/t");
    ASSERT_TRUE(std::getline(token, admin_)) << "no bootstrap token file";
    ASSERT_TRUE(AllPartitionsWritten()) << "the group never assigned every partition";
  }

  void TearDown() override {
    for (auto& node : nodes_) {
      if (!node) continue;
      node->Signal(SIGCONT);  // a test may have left it stopped
      node->Stop();
    }
    if (kafka_) {
      kafka_->Signal(SIGTERM);
      kafka_->Wait();
    }
  }

  void StartNode(const std::string& id) {
    std::vector<std::string> flags = {"--kafka-brokers", brokers_, "--kafka-config",     config_,
                                      "--node-id",       id,       "--kafka-timeout-ms", "2000"};
    if (nodes_.empty()) flags.insert(flags.end(), {"--bootstrap-token-file", dir_.path() + "/t"});
    nodes_.push_back(std::make_unique<ServeProcess>(dir_.path() + "/" + id, flags));
    ASSERT_TRUE(nodes_.back()->started()) << id;
  }

  Api ApiOf(size_t node) { return Api(nodes_[node]->address(), admin_); }

  std::string Metrics(size_t node) { return ApiOf(node).Raw("GET", "/metrics").body; }

  // True once every partition is written by exactly one live node, every live node writes
  // at least one (the group has settled: it spreads kPartitions over at most as many
  // nodes), and every live node agrees on each partition's epoch.
  bool AllPartitionsWritten(std::chrono::seconds limit = std::chrono::seconds(40)) {
    return Eventually(
        [&] {
          std::map<int, int> writers;
          std::map<int, std::set<int64_t>> epochs;
          for (size_t i = 0; i < nodes_.size(); ++i) {
            if (!nodes_[i]) continue;
            const std::string page = Metrics(i);
            int writes = 0;
            for (auto [p, w] : PerPartition(page, "keytrail_partition_writing")) {
              writers[p] += w;
              writes += w;
            }
            if (writes == 0) return false;
            for (auto [p, e] : PerPartition(page, "keytrail_partition_epoch")) epochs[p].insert(e);
          }
          if (writers.size() != kPartitions) return false;
          for (auto [p, n] : writers) {
            if (n != 1 || epochs[p].size() != 1) return false;
          }
          return true;
        },
        limit);
  }

  // A create without a name sent to `node`: 400 once a live writer of org "default"'s
  // partition looked at it (here, or forwarded: then Keytrail-Served-By names it).
  HttpClient::Response Probe(size_t node) {
    return ApiOf(node).Raw("POST", "/v1/orgs/default/keys", "{}");
  }

  // The node that writes org "default"'s partition.
  size_t WriterOfDefault() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i]) continue;
      auto r = Probe(i);
      if (r.status == 400 && r.Header("keytrail-served-by").empty()) return i;
    }
    return nodes_.size();
  }

  static std::string IdempotencyKey(size_t node, std::string name) {
    std::replace(name.begin(), name.end(), ' ', '-');
    return fmt::format("create-{}-{}", node, name);
  }

  // A create through `node`, retried on 503 (a partition between writers says Retry-After)
  // with the same Idempotency-Key, as a well-behaved client does, for up to 20 s. Each
  // (node, name) is its own client request.
  std::pair<int, json> Create(size_t node, const std::string& name, const std::string& extra = "") {
    std::pair<int, json> answer;
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    do {
      answer = ApiOf(node).Call("POST", "/v1/orgs/default/keys",
                                R"({"name": ")" + name + R"(", "group": "developer")" + extra + "}",
                                {{"Idempotency-Key", IdempotencyKey(node, name)}});
      if (answer.first != 503) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (Clock::now() < deadline);
    return answer;
  }

  bool Valid(size_t node, const std::string& token) {
    auto [status, verdict] =
        Api(nodes_[node]->address(), "").Call("POST", "/v1/verify", json{{"key", token}}.dump());
    return status == 200 && verdict.value("valid", false);
  }

  TempDir dir_;
  std::unique_ptr<ChildProcess> kafka_;
  std::string brokers_, config_, admin_;
  std::vector<std::unique_ptr<ServeProcess>> nodes_;
};

TEST_F(ClusterTest, ACreateOnOneNodeVerifiesOnAllAndARevokeOnAnotherIsRefusedEverywhere) {
  auto [status, key] = Create(0, "deploy bot");
  ASSERT_EQ(status, 201) << key.dump();
  const std::string token = key["token"];
  const auto created = Clock::now();
  for (size_t i : {1, 2}) {
    ASSERT_TRUE(Eventually([&] { return Valid(i, token); })) << "node " << i;
  }
  RecordProperty("create_visible_everywhere_ms", std::to_string(MillisSince(created)));

  auto [revoked, body] =
      ApiOf(1).Call("POST", "/v1/orgs/default/keys/" + key["id"].get<std::string>() + "/revoke",
                    R"({"reason": "rotated out"})");
  ASSERT_EQ(revoked, 200) << body.dump();
  const auto acknowledged = Clock::now();
  for (size_t i : {0, 2}) {
    ASSERT_TRUE(Eventually([&] { return !Valid(i, token); })) << "node " << i;
  }
  RecordProperty("revoke_visible_everywhere_ms", std::to_string(MillisSince(acknowledged)));
  // Every node lists the same keys.
  std::set<std::string> listed;
  for (size_t i : {0, 1, 2}) {
    ASSERT_TRUE(Eventually([&] {
      auto [s, list] = ApiOf(i).Call("GET", "/v1/orgs/default/keys?status=revoked");
      return s == 200 && list["keys"].size() == 1;
    })) << "node "
        << i;
  }
}

// Members sign in through any node: the invitation, the sign-in and the sign-out go to
// the writer of the org's partition (forwarded), and every node accepts the session
// (the credentials stream, keytrail.credentials, reaches them all) until it ends.
TEST_F(ClusterTest, AMemberSignsInThroughAnyNodeAndEveryNodeKnowsTheSession) {
  std::ifstream invite_file(dir_.path() + "/t.invite");
  std::string url;
  ASSERT_TRUE(std::getline(invite_file, url)) << "node-a wrote no invitation";
  const std::string invitation = url.substr(url.find('#') + 1);
  const size_t writer = WriterOfDefault();
  ASSERT_LT(writer, nodes_.size());
  const size_t other = (writer + 1) % nodes_.size(), third = (writer + 2) % nodes_.size();
  Api anonymous_other(nodes_[other]->address(), ""), anonymous_third(nodes_[third]->address(), "");

  auto accepted =
      anonymous_other.Call("POST", "/v1/invitations/accept",
                           json{{"token", invitation}, {"password", "a long passphrase"}}.dump());
  ASSERT_EQ(accepted.first, 200) << accepted.second.dump();
  auto signed_in = anonymous_third.Raw(
      "POST", "/v1/sessions",
      json{{"org", "default"}, {"member", "admin"}, {"password", "a long passphrase"}}.dump());
  ASSERT_EQ(signed_in.status, 201) << signed_in.body;
  EXPECT_FALSE(signed_in.Header("keytrail-served-by").empty()) << "forwarded to the writer";
  const std::string set_cookie(signed_in.Header("set-cookie"));
  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  const std::string csrf = json::parse(signed_in.body)["csrf_token"];
  auto current = [&](size_t node) {
    return Api(nodes_[node]->address(), "")
        .Raw("GET", "/v1/sessions/current", "", {{"Cookie", cookie}})
        .status;
  };
  for (size_t i = 0; i < nodes_.size(); ++i) {
    EXPECT_TRUE(Eventually([&] { return current(i) == 200; })) << "node " << i;
  }
  auto created = Api(nodes_[other]->address(), "")
                     .Call("POST", "/v1/orgs/default/keys",
                           R"({"name": "made in the console", "group": "developer"})",
                           {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  ASSERT_EQ(created.first, 201) << created.second.dump();
  EXPECT_EQ(created.second["created_by"], "admin");

  auto out =
      Api(nodes_[other]->address(), "")
          .Raw("DELETE", "/v1/sessions/current", "", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  ASSERT_EQ(out.status, 204) << out.body;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    EXPECT_TRUE(Eventually([&] { return current(i) == 401; })) << "node " << i;
  }
}

TEST_F(ClusterTest, TheSameNameThroughTwoNodesAtOnceIsCreatedOnce) {
  for (int round = 0; round < 5; ++round) {
    const std::string name = "race-" + std::to_string(round);
    std::atomic<int> go{0};
    int statuses[2] = {0, 0};
    std::vector<std::thread> racers;
    for (size_t i : {0, 1}) {
      racers.emplace_back([&, i] {
        ++go;
        while (go.load() < 2) {
        }
        statuses[i] = Create(i, name).first;
      });
    }
    for (auto& t : racers) t.join();
    std::multiset<int> got(std::begin(statuses), std::end(statuses));
    EXPECT_EQ(got, (std::multiset<int>{201, 409})) << name;
  }
}

// kill -9 of the writer of org "default" in the middle of a burst of creates through every
// node: nothing acknowledged is lost, nothing is created twice, and writes resume on a
// survivor.
TEST_F(ClusterTest, KillNineOfTheWriterLosesNothingAcknowledged) {
  const size_t victim = WriterOfDefault();
  ASSERT_LT(victim, nodes_.size());
  std::mutex mu;
  std::vector<std::string> acked_tokens;
  std::atomic<bool> stop{false};
  std::atomic<int> after_kill{0};
  std::atomic<bool> killed{false};
  std::vector<std::thread> clients;
  for (size_t c = 0; c < 3; ++c) {
    clients.emplace_back([&, c] {
      for (int n = 0; !stop.load(); ++n) {
        const size_t node = (c + n) % 3;
        if (node == victim && killed.load()) continue;
        const std::string name = fmt::format("burst-{}-{}", c, n);
        auto [status, key] = Create(node, name);
        if (status == 201) {
          std::lock_guard lock(mu);
          acked_tokens.push_back(key["token"]);
          if (killed.load()) ++after_kill;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  nodes_[victim]->Kill();
  killed = true;
  const auto kill_time = Clock::now();
  const bool resumed = Eventually([&] { return after_kill.load() >= 5; }, std::chrono::seconds(40));
  RecordProperty("writes_resumed_after_kill_ms", std::to_string(MillisSince(kill_time)));
  stop = true;
  for (auto& t : clients) t.join();
  nodes_[victim].reset();
  ASSERT_TRUE(resumed) << "no write succeeded after the kill";

  std::set<std::string> distinct(acked_tokens.begin(), acked_tokens.end());
  EXPECT_EQ(distinct.size(), acked_tokens.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]) continue;
    for (const std::string& token : acked_tokens) {
      ASSERT_TRUE(Eventually([&] { return Valid(i, token); }, std::chrono::seconds(10)))
          << "node " << i << " lost an acknowledged key";
    }
    // Names are unique: as many keys as distinct names acknowledged or not.
    auto [s, list] = ApiOf(i).Call("GET", "/v1/orgs/default/keys?page_size=1000");
    ASSERT_EQ(s, 200);
    std::set<std::string> names;
    for (const json& k : list["keys"]) names.insert(k["name"].get<std::string>());
    EXPECT_EQ(names.size(), list["keys"].size()) << "a name appears twice on node " << i;
  }
}

// A writer stopped (SIGSTOP) past the session timeout loses its partitions; what it does
// when it wakes changes nothing that was not acknowledged, and every node agrees.
TEST_F(ClusterTest, APausedWriterThatWakesUpAfterAMoveIsFencedOrForwards) {
  const size_t paused = WriterOfDefault();
  ASSERT_LT(paused, nodes_.size());
  nodes_[paused]->Signal(SIGSTOP);
  // A create sent to the paused node waits in its socket.
  std::pair<int, json> late;
  std::thread client([&] { late = Create(paused, "sent while paused"); });
  const size_t other = (paused + 1) % 3;
  // No fatal assertion until the paused node runs again and the client is joined.
  const bool moved = Eventually([&] { return Probe(other).status == 400; },  // a live writer
                                std::chrono::seconds(40));
  auto [status, key] = Create(other, "created after the move");
  nodes_[paused]->Signal(SIGCONT);
  client.join();
  ASSERT_TRUE(moved) << "the partition never left the paused node";
  ASSERT_EQ(status, 201) << key.dump();
  // 201: visible everywhere. 503: nothing happened. No answer (the client gave up while
  // the node slept): either, but every node agrees.
  EXPECT_TRUE(late.first == 201 || late.first == 503 || late.first == 0)
      << late.first << " " << late.second.dump();
  auto names_on = [&](size_t i) {
    std::set<std::string> names;
    auto [s, list] = ApiOf(i).Call("GET", "/v1/orgs/default/keys");
    if (s == 200) {
      for (const json& k : list["keys"]) names.insert(k["name"].get<std::string>());
    }
    return names;
  };
  ASSERT_TRUE(AllPartitionsWritten());
  for (size_t i : {0, 1, 2}) {
    ASSERT_TRUE(Eventually([&] {
      const auto names = names_on(i);
      if (names.count("created after the move") != 1) return false;
      if (late.first == 201) return names.count("sent while paused") == 1;
      if (late.first == 503) return names.count("sent while paused") == 0;
      return names == names_on(0);
    })) << "node "
        << i << " disagrees";
  }
}

// Keys expiring while their partition moves get exactly one KeyExpired each.
TEST_F(ClusterTest, KeysExpiringDuringAMoveExpireOnce) {
  const size_t writer = WriterOfDefault();
  ASSERT_LT(writer, nodes_.size());
  const auto due = std::chrono::system_clock::now() + std::chrono::seconds(4);
  const std::string at =
      fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", std::chrono::floor<std::chrono::seconds>(due));
  for (int i = 0; i < 10; ++i) {
    auto [status, key] =
        Create(writer, "expiring-" + std::to_string(i), R"(, "expires": ")" + at + "\"");
    ASSERT_EQ(status, 201) << key.dump();
  }
  nodes_[writer]->Stop();  // leaves the group: the partition moves
  nodes_[writer].reset();
  const size_t survivor = (writer + 1) % 3;
  ASSERT_TRUE(Eventually(
      [&] {
        auto [s, page] =
            ApiOf(survivor).Call("GET", "/v1/orgs/default/audit?action=api_key.expired");
        return s == 200 && page["records"].size() >= 10;
      },
      std::chrono::seconds(40)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a second expiry would show
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]) continue;
    auto [s, page] = ApiOf(i).Call("GET", "/v1/orgs/default/audit?action=api_key.expired");
    ASSERT_EQ(s, 200);
    std::set<std::string> keys;
    for (const json& r : page["records"]) keys.insert(r["target"]["id"].get<std::string>());
    EXPECT_EQ(page["records"].size(), 10u) << "node " << i;
    EXPECT_EQ(keys.size(), 10u) << "node " << i;
  }
}

// Every node's views equal a rebuild from the topic (keytrail check, on each live node).
TEST_F(ClusterTest, EveryNodesViewsEqualARebuildFromTheTopic) {
  for (int i = 0; i < 6; ++i) ASSERT_EQ(Create(i % 3, "key-" + std::to_string(i)).first, 201);
  for (size_t i : {0, 1, 2}) {
    ASSERT_TRUE(Eventually(
        [&] { return ApiOf(i).Call("GET", "/v1/orgs/default/keys").second["keys"].size() == 7; }));
  }
  for (const char* id : {"node-a", "node-b", "node-c"}) {
    auto result = RunCommand({KEYTRAIL_BINARY, "check", "--data-dir", dir_.path() + "/" + id,
                              "--kafka-brokers", brokers_});
    EXPECT_EQ(result.exit_code, 0) << id << ": " << result.out << result.err;
  }
}

}  // namespace
}  // namespace keytrail::testing
