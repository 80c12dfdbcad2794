// KafkaEventLog against librdkafka's mock cluster: the EventLog contract, failure
// bounds, and the record format as seen by two independent clients (kcat and the Python
// confluent-kafka client).
#include "events/kafka_event_log.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "events/kafka_mock_cluster.h"
#include "tests/integration/event_log_contract.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_events.h"

namespace keytrail::testing {
namespace {

using events::KafkaEventLog;
using events::KafkaMockCluster;
using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

constexpr char kSource[] = "/keytrail/test";

std::unique_ptr<KafkaMockCluster> StartCluster() {
  auto cluster = KafkaMockCluster::Start(/*brokers=*/3);
  EXPECT_OK(cluster);
  return cluster.ok() ? std::move(cluster).value() : nullptr;
}

KafkaEventLog::Options OptionsFor(const KafkaMockCluster& cluster,
                                  milliseconds timeout = seconds(10)) {
  KafkaEventLog::Options options;
  options.brokers = cluster.bootstrap_servers();
  options.topic = cluster.topic();
  options.source = kSource;
  options.timeout = timeout;
  return options;
}

// One mock cluster (fresh topic) per test; every Open() is a new client of it.
class KafkaFactory final : public EventLogFactory {
 public:
  KafkaFactory() : cluster_(StartCluster()) {}

  std::unique_ptr<events::EventLog> Open() override {
    if (cluster_ == nullptr) return nullptr;
    auto log = KafkaEventLog::Open(OptionsFor(*cluster_));
    EXPECT_OK(log);
    return log.ok() ? std::move(log).value() : nullptr;
  }

 private:
  std::unique_ptr<KafkaMockCluster> cluster_;
};

INSTANTIATE_TEST_SUITE_P(Kafka, EventLogContract,
                         ::testing::Values(EventLogContractParam{
                             "kafka", [] { return std::make_unique<KafkaFactory>(); }}),
                         [](const auto& info) { return info.param.name; });

double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// Runs `command` under /bin/sh and returns its exit code and everything it printed on
// stdout (binary-safe). Its stderr goes to the test's stderr.
struct ChildOutput {
  int exit_code = -1;
  std::string out;
};
ChildOutput RunShell(const std::string& command) {
  ChildOutput result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[65536];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.out.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string FindProgram(const std::string& name) {
  ChildOutput which = RunShell("command -v " + name);
  if (which.exit_code != 0) return "";
  while (!which.out.empty() && (which.out.back() == '\n' || which.out.back() == '\r')) {
    which.out.pop_back();
  }
  return which.out;
}

std::vector<std::string> Split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    parts.emplace_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// What one record of the test data should look like on the wire.
struct Expected {
  std::string org;
  std::string id;
  std::string subject;
  std::string type;
  std::string time;
  std::string value;
};

// Three records over two orgs: acme's key-1 created then revoked, globex's key-9 created.
// MakeEnvelope derives the UUIDv7 id from seq and sets occurred_at_us =
// 1700000000000000 + seq, i.e. 2023-11-14T22:13:20Z + seq microseconds.
std::vector<Expected> AppendSampleEvents(KafkaEventLog& log) {
  std::vector<Expected> expected = {
      {"acme", "018bcfe5-6801-7000-8000-000000000001", "key-1", "io.keytrail.key.created.v1",
       "2023-11-14T22:13:20.000001Z", EncodedKeyCreated("acme", "key-1", 1)},
      {"acme", "018bcfe5-6802-7000-8000-000000000002", "key-1", "io.keytrail.key.revoked.v1",
       "2023-11-14T22:13:20.000002Z", EncodedKeyRevoked("acme", "key-1", 2)},
      {"globex", "018bcfe5-6803-7000-8000-000000000003", "key-9", "io.keytrail.key.created.v1",
       "2023-11-14T22:13:20.000003Z", EncodedKeyCreated("globex", "key-9", 3)},
  };
  const std::vector<std::string> acme = {expected[0].value, expected[1].value};
  const std::vector<std::string> globex = {expected[2].value};
  auto a = log.Append("acme", acme);
  EXPECT_OK(a);
  auto g = log.Append("globex", globex);
  EXPECT_OK(g);
  return expected;
}

// Checks one record's key, placement and CloudEvents headers against `want`.
void ExpectCloudEvent(const KafkaEventLog& log, const std::string& key, int32_t partition,
                      const std::map<std::string, std::string>& headers, const Expected& want) {
  static const std::regex kUuidV7(
      "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
      "[0-9a-f]{12}$");
  EXPECT_EQ(key, want.org);
  EXPECT_EQ(partition, log.PartitionFor(want.org));
  const std::map<std::string, std::string> expected_headers = {
      {"ce_specversion", "1.0"},
      {"ce_id", want.id},
      {"ce_type", want.type},
      {"ce_source", kSource},
      {"ce_time", want.time},
      {"ce_subject", want.subject},
      {"ce_dataschema", "urn:keytrail:events:schema:1"},
      {"content-type", "application/x-flatbuffers"},
  };
  EXPECT_EQ(headers, expected_headers);
  auto id = headers.find("ce_id");
  ASSERT_NE(id, headers.end());
  EXPECT_TRUE(std::regex_match(id->second, kUuidV7)) << id->second;
}

class KafkaEventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = StartCluster();
    ASSERT_NE(cluster_, nullptr);
  }

  std::unique_ptr<KafkaEventLog> OpenLog(milliseconds timeout = seconds(10)) {
    auto log = KafkaEventLog::Open(OptionsFor(*cluster_, timeout));
    EXPECT_OK(log);
    return log.ok() ? std::move(log).value() : nullptr;
  }

  std::unique_ptr<KafkaMockCluster> cluster_;
};

TEST(KafkaEventLogOpen, UnreachableBrokersFailWithinTheTimeout) {
  KafkaEventLog::Options options;
  options.brokers = "127.0.0.1:1";
  options.timeout = seconds(2);
  const auto start = SteadyClock::now();
  auto log = KafkaEventLog::Open(options);
  const double elapsed = SecondsSince(start);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kUnavailable) << log.status().ToString();
  EXPECT_NE(log.status().message().find("127.0.0.1:1"), std::string::npos)
      << log.status().ToString();
  EXPECT_LT(elapsed, 2.0 + 3.0) << "Open must be bounded by its timeout";
}

TEST(KafkaEventLogOpen, RejectsBadOptions) {
  KafkaEventLog::Options options;
  EXPECT_EQ(KafkaEventLog::Open(options).status().code(), StatusCode::kInvalidArgument);
  options.brokers = "127.0.0.1:1";
  options.timeout = milliseconds(0);
  EXPECT_EQ(KafkaEventLog::Open(options).status().code(), StatusCode::kInvalidArgument);
  options.timeout = seconds(1);
  options.topic = "";
  EXPECT_EQ(KafkaEventLog::Open(options).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(KafkaEventLogTest, MissingTopicIsNotFoundAndNotCreated) {
  auto options = OptionsFor(*cluster_, seconds(5));
  options.topic = "no.such.topic";
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto log = KafkaEventLog::Open(options);
    ASSERT_FALSE(log.ok());
    EXPECT_EQ(log.status().code(), StatusCode::kNotFound) << log.status().ToString();
  }
}

TEST_F(KafkaEventLogTest, SeesTheTopicsPartitionCount) {
  auto cluster = KafkaMockCluster::Start(/*brokers=*/1, "other.events", /*partitions=*/3);
  ASSERT_OK(cluster);
  auto log = KafkaEventLog::Open(OptionsFor(**cluster));
  ASSERT_OK(log);
  EXPECT_EQ((*log)->PartitionCount(), 3);
  EXPECT_EQ(OpenLog()->PartitionCount(), 8);
}

TEST_F(KafkaEventLogTest, RejectsUndecodableOrForeignEventsAndWritesNothing) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  const int32_t p = log->PartitionFor("acme");
  const std::string good = EncodedKeyCreated("acme", "key-1", 1);
  std::string truncated = good;
  truncated.pop_back();
  const std::vector<std::vector<std::string>> bad_batches = {
      {good, "not a flatbuffer"},
      {good, truncated},
      {good, ""},
      {good, EncodedKeyCreated("globex", "key-2", 2)},  // another org's event
  };
  for (const auto& batch : bad_batches) {
    auto r = log->Append("acme", batch);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  }
  auto end = log->EndOffset(p);
  ASSERT_OK(end);
  EXPECT_EQ(*end, 0) << "a rejected batch must not write its valid prefix";

  // The log is still usable, and the first good record gets offset 0.
  auto ok = log->Append("acme", std::vector<std::string>{good});
  ASSERT_OK(ok);
  EXPECT_EQ(*ok, std::vector<int64_t>{0});
}

TEST_F(KafkaEventLogTest, AppendFailsInBoundedTimeWhileBrokersAreDownThenRecovers) {
  auto log = OpenLog(seconds(2));
  ASSERT_NE(log, nullptr);
  const int32_t p = log->PartitionFor("acme");
  ASSERT_OK(log->Append("acme", std::vector<std::string>{EncodedKeyCreated("acme", "k", 0)}));

  ASSERT_OK(cluster_->SetBrokersDown(true));
  auto start = SteadyClock::now();
  auto failed = log->Append("acme", std::vector<std::string>{EncodedKeyCreated("acme", "k", 1)});
  double elapsed = SecondsSince(start);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable) << failed.status().ToString();
  EXPECT_LT(elapsed, 2.0 + 3.0) << "Append must be bounded by the delivery timeout";

  start = SteadyClock::now();
  auto end = log->EndOffset(p);
  elapsed = SecondsSince(start);
  EXPECT_FALSE(end.ok());
  EXPECT_LT(elapsed, 2.0 + 3.0) << "EndOffset must be bounded by the timeout";

  // Once the brokers are back, appends succeed again and offsets stay dense.
  ASSERT_OK(cluster_->SetBrokersDown(false));
  Result<std::vector<int64_t>> recovered = Status::Unavailable("not tried");
  const auto deadline = SteadyClock::now() + seconds(15);
  while (!recovered.ok() && SteadyClock::now() < deadline) {
    recovered = log->Append("acme", std::vector<std::string>{EncodedKeyCreated("acme", "k", 2)});
  }
  ASSERT_OK(recovered);
  end = log->EndOffset(p);
  ASSERT_OK(end);
  EXPECT_EQ((*recovered)[0], *end - 1);
}

TEST_F(KafkaEventLogTest, TheBreakerOpensWhileBrokersAreDownAndClosesWhenTheyAnswer) {
  auto log = OpenLog(seconds(2));
  ASSERT_NE(log, nullptr);
  ASSERT_OK(log->Append("acme", std::vector<std::string>{EncodedKeyCreated("acme", "k", 0)}));
  EXPECT_TRUE(log->Reachability().reachable);

  ASSERT_OK(cluster_->SetBrokersDown(true));
  // librdkafka reports every broker down once its connections fail; an append that times
  // out opens the breaker too.
  auto deadline = SteadyClock::now() + seconds(15);
  while (log->Reachability().reachable && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const events::LogReachability down = log->Reachability();
  ASSERT_FALSE(down.reachable);
  EXPECT_NE(down.reason.find("kafka"), std::string::npos) << down.reason;

  // Back up: the probe closes the breaker without any append.
  ASSERT_OK(cluster_->SetBrokersDown(false));
  deadline = SteadyClock::now() + seconds(15);
  while (!log->Reachability().reachable && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(log->Reachability().reachable);
}

TEST_F(KafkaEventLogTest, EachAppendIsContiguousUnderConcurrency) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  constexpr int kThreads = 8;
  constexpr int kBatches = 10;
  constexpr int kBatchSize = 5;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<std::string> batch;
        for (int i = 0; i < kBatchSize; ++i) {
          batch.push_back(EncodedKeyCreated("acme", "k", (t * kBatches + b) * kBatchSize + i));
        }
        auto offsets = log->Append("acme", batch);
        ASSERT_OK(offsets);
        for (int i = 1; i < kBatchSize; ++i) {
          EXPECT_EQ((*offsets)[i], (*offsets)[0] + i) << "another append was interleaved";
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(*log->EndOffset(log->PartitionFor("acme")), kThreads * kBatches * kBatchSize);
}

TEST_F(KafkaEventLogTest, ReaderPastTheEndFailsRatherThanSkipping) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  const int32_t p = log->PartitionFor("acme");
  ASSERT_OK(log->Append("acme", std::vector<std::string>{EncodedKeyCreated("acme", "k", 0)}));
  auto reader = log->OpenReader(p, 5);
  ASSERT_OK(reader);
  Result<std::vector<events::LogRecord>> next = std::vector<events::LogRecord>{};
  for (int i = 0; i < 25 && next.ok(); ++i) {
    next = (*reader)->Next(10, milliseconds(200));
    if (next.ok()) {
      EXPECT_TRUE(next->empty()) << "a reader past the end returned records";
    }
  }
  ASSERT_FALSE(next.ok()) << "reading from offset 5 of a 1-record partition never failed";
  EXPECT_EQ(next.status().code(), StatusCode::kInvalidArgument) << next.status().ToString();
}

TEST_F(KafkaEventLogTest, ReaderRidesOutABrokerOutageWithoutSkipping) {
  auto log = OpenLog(seconds(2));
  ASSERT_NE(log, nullptr);
  const int32_t p = log->PartitionFor("acme");
  std::vector<std::string> events;
  for (int i = 0; i < 5; ++i) events.push_back(EncodedKeyCreated("acme", "k", i));
  ASSERT_OK(log->Append("acme", std::span(events).first(3)));
  auto reader = log->OpenReader(p, 0);
  ASSERT_OK(reader);
  std::vector<events::LogRecord> got;
  for (int i = 0; i < 25 && got.size() < 3; ++i) {
    auto batch = (*reader)->Next(10, milliseconds(200));
    ASSERT_OK(batch);
    for (auto& r : *batch) got.push_back(std::move(r));
  }
  ASSERT_EQ(got.size(), 3u);

  ASSERT_OK(cluster_->SetBrokersDown(true));
  for (int i = 0; i < 5; ++i) {
    const auto start = SteadyClock::now();
    auto batch = (*reader)->Next(10, milliseconds(300));
    EXPECT_LT(SecondsSince(start), 2.0) << "Next must return within about its wait";
    if (batch.ok()) {
      EXPECT_TRUE(batch->empty());
    } else {
      EXPECT_EQ(batch.status().code(), StatusCode::kUnavailable) << batch.status().ToString();
    }
  }
  ASSERT_OK(cluster_->SetBrokersDown(false));

  Result<std::vector<int64_t>> appended = Status::Unavailable("not tried");
  const auto deadline = SteadyClock::now() + seconds(15);
  while (!appended.ok() && SteadyClock::now() < deadline) {
    appended = log->Append("acme", std::span(events).subspan(3));
  }
  ASSERT_OK(appended);
  ASSERT_EQ(*appended, (std::vector<int64_t>{3, 4}));
  for (int i = 0; i < 50 && got.size() < 5; ++i) {
    auto batch = (*reader)->Next(10, milliseconds(200));
    if (!batch.ok()) {
      EXPECT_EQ(batch.status().code(), StatusCode::kUnavailable) << batch.status().ToString();
      continue;
    }
    for (auto& r : *batch) got.push_back(std::move(r));
  }
  ASSERT_EQ(got.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(got[i].offset, i);
    EXPECT_EQ(got[i].value, events[i]);
  }
}

TEST_F(KafkaEventLogTest, ReaderOutlivesTheLog) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  const int32_t p = log->PartitionFor("acme");
  const std::string event = EncodedKeyCreated("acme", "k", 0);
  ASSERT_OK(log->Append("acme", std::vector<std::string>{event}));
  auto reader = log->OpenReader(p, 0);
  ASSERT_OK(reader);
  log.reset();
  std::vector<events::LogRecord> got;
  for (int i = 0; i < 25 && got.empty(); ++i) {
    auto batch = (*reader)->Next(10, milliseconds(200));
    ASSERT_OK(batch);
    got = std::move(*batch);
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value, event);
}

// kcat, an independent librdkafka-based tool, reads what KafkaEventLog wrote.
TEST_F(KafkaEventLogTest, KcatSeesKeysCloudEventHeadersAndPayloads) {
  const std::string kcat = FindProgram("kcat");
  ASSERT_FALSE(kcat.empty()) << "kcat is not installed (the install script installs it)";
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  const std::vector<Expected> expected = AppendSampleEvents(*log);

  std::map<std::string, const Expected*> by_value;
  std::set<int32_t> partitions;
  for (const auto& e : expected) {
    by_value[e.value] = &e;
    partitions.insert(log->PartitionFor(e.org));
  }
  size_t seen = 0;
  for (int32_t p : partitions) {
    // One line of metadata, then exactly %S payload bytes, then a newline.
    const std::string command = fmt::format(
        "timeout 30 {} -C -q -b '{}' -t '{}' -p {} -o beginning -e -f "
        "'%k\\t%p\\t%o\\t%S\\t%h\\n%s\\n'",
        kcat, cluster_->bootstrap_servers(), cluster_->topic(), p);
    const ChildOutput child = RunShell(command);
    ASSERT_EQ(child.exit_code, 0) << command;
    size_t pos = 0;
    int64_t next_offset = 0;
    while (pos < child.out.size()) {
      const size_t eol = child.out.find('\n', pos);
      ASSERT_NE(eol, std::string::npos);
      const auto fields = Split(std::string_view(child.out).substr(pos, eol - pos), '\t');
      ASSERT_EQ(fields.size(), 5u) << child.out.substr(pos, eol - pos);
      const size_t size = std::stoul(fields[3]);
      ASSERT_LE(eol + 1 + size + 1, child.out.size());
      const std::string value = child.out.substr(eol + 1, size);
      ASSERT_EQ(child.out[eol + 1 + size], '\n');
      pos = eol + 1 + size + 1;

      EXPECT_EQ(std::stoi(fields[1]), p);
      EXPECT_EQ(std::stoll(fields[2]), next_offset++);
      std::map<std::string, std::string> headers;
      for (const auto& header : Split(fields[4], ',')) {
        const size_t eq = header.find('=');
        ASSERT_NE(eq, std::string::npos) << header;
        headers[header.substr(0, eq)] = header.substr(eq + 1);
      }
      auto want = by_value.find(value);
      ASSERT_NE(want, by_value.end()) << "kcat read a payload that was never appended";
      ExpectCloudEvent(*log, fields[0], std::stoi(fields[1]), headers, *want->second);
      ++seen;
    }
  }
  EXPECT_EQ(seen, expected.size());
}

// The Python confluent-kafka client reads the topic and recomputes placement with its
// own murmur2, as a Java client would.
TEST_F(KafkaEventLogTest, PythonConfluentKafkaSeesTheContract) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  const std::vector<Expected> expected = AppendSampleEvents(*log);

  const std::string command =
      fmt::format("{} {} --bootstrap '{}' --topic '{}' --timeout 20", KEYTRAIL_PYTHON,
                  KEYTRAIL_CONSUME_CHECK_PY, cluster_->bootstrap_servers(), cluster_->topic());
  const ChildOutput child = RunShell(command);
  ASSERT_EQ(child.exit_code, 0) << command;

  std::map<std::pair<int32_t, int64_t>, nlohmann::json> records;
  for (const auto& line : Split(child.out, '\n')) {
    if (line.empty()) continue;
    auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(json.is_discarded()) << line;
    records[{json["partition"].get<int32_t>(), json["offset"].get<int64_t>()}] = json;
  }
  ASSERT_EQ(records.size(), expected.size());

  std::map<int32_t, int64_t> next_offset;  // per partition, in append order
  for (const auto& want : expected) {
    const int32_t p = log->PartitionFor(want.org);
    const int64_t offset = next_offset[p]++;
    auto it = records.find({p, offset});
    ASSERT_NE(it, records.end()) << want.org << " record " << offset << " not seen";
    const nlohmann::json& json = it->second;
    EXPECT_EQ(json["java_partition"].get<int32_t>(), p)
        << "keytrail and Kafka's Java default partitioner disagree on " << want.org;
    std::string value;
    const std::string hex = json["value_hex"].get<std::string>();
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
      value.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    EXPECT_EQ(value, want.value) << "payload bytes differ";
    ExpectCloudEvent(*log, json["key"].get<std::string>(), p,
                     json["headers"].get<std::map<std::string, std::string>>(), want);
  }
}

}  // namespace
}  // namespace keytrail::testing
