// keytrail log dump: the log's records as JSON Lines on stdout, filtered by org,
// aggregate, payload type, partition and offset range. Reads the local log as a snapshot
// (works while a server runs) or the Kafka topic. Streams: a line is written as soon as
// its record is read. A record that does not decode is shown as a line with an "error"
// field and the dump goes on.
#include <cstdio>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "events/codec.h"
#include "tools/keytrail/commands.h"
#include "tools/keytrail/event_json.h"
#include "tools/keytrail/offline.h"

namespace keytrail::cli {
namespace {

using nlohmann::json;

struct DumpOptions {
  DataOptions data;
  std::string org;
  std::string key;
  std::vector<std::string> types;
  int32_t partition = -1;  // -1: every partition (or the org's, with --org)
  int64_t from_offset = 0;
  int64_t to_offset = std::numeric_limits<int64_t>::max();  // exclusive
};

constexpr int kMaxIdleReads = 30;  // one second each

// "KeyCreated" or "io.keytrail.key.created.v1" -> the payload type.
bool ParseType(const std::string& name, fb::Payload* type) {
  for (auto t = static_cast<uint8_t>(fb::Payload::MIN) + 1;
       t <= static_cast<uint8_t>(fb::Payload::MAX); ++t) {
    const auto payload = static_cast<fb::Payload>(t);
    if (name == events::PayloadName(payload) || name == events::CloudEventType(payload)) {
      *type = payload;
      return true;
    }
  }
  return false;
}

std::string KnownTypes() {
  std::string out;
  for (auto t = static_cast<uint8_t>(fb::Payload::MIN) + 1;
       t <= static_cast<uint8_t>(fb::Payload::MAX); ++t) {
    if (!out.empty()) out += ", ";
    out += events::PayloadName(static_cast<fb::Payload>(t));
  }
  return out;
}

void PrintLine(const json& line) {
  std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace);
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), stdout);
}

struct Counts {
  int64_t read = 0;
  int64_t shown = 0;
  int64_t bad = 0;
};

Status DumpPartition(events::EventLog& log, int32_t partition, const DumpOptions& o,
                     const std::set<fb::Payload>& types, Counts& counts) {
  auto end = log.EndOffset(partition);
  if (!end.ok()) return end.status();
  const int64_t to = std::min(*end, o.to_offset);
  if (o.from_offset >= to) return Status::Ok();
  auto reader = log.OpenReader(partition, o.from_offset);
  if (!reader.ok()) return reader.status();
  int64_t next = o.from_offset;
  int idle = 0;
  while (next < to) {
    const auto want = static_cast<size_t>(std::min<int64_t>(1000, to - next));
    auto records = (*reader)->Next(want, std::chrono::milliseconds(1000));
    if (!records.ok()) return records.status();
    if (records->empty()) {
      if (++idle == kMaxIdleReads) {
        return Status::Timeout(
            fmt::format("partition {}: offset {} of {} never arrived", partition, next, to));
      }
      continue;
    }
    idle = 0;
    for (const events::LogRecord& record : *records) {
      next = record.offset + 1;
      ++counts.read;
      // The record's log key is the org for every record keytrail writes.
      if (!o.org.empty() && record.key != o.org) continue;
      auto event = events::Decode(record.value);
      if (!event.ok()) {
        // Its type and aggregate are unknown, so only the position and org filters apply.
        ++counts.bad;
        ++counts.shown;
        PrintLine(BadRecordJson(record, event.status().message()));
        continue;
      }
      const fb::Envelope& e = **event;
      if (!o.org.empty() && (e.org() == nullptr || e.org()->string_view() != o.org)) continue;
      if (!o.key.empty() &&
          (e.aggregate_id() == nullptr || e.aggregate_id()->string_view() != o.key)) {
        continue;
      }
      if (!types.empty() && !types.contains(e.payload_type())) continue;
      ++counts.shown;
      PrintLine(EventJson(record, e));
    }
    std::fflush(stdout);
  }
  return Status::Ok();
}

int RunDump(const DumpOptions& o) {
  std::set<fb::Payload> types;
  for (const std::string& name : o.types) {
    fb::Payload type;
    if (!ParseType(name, &type)) {
      fmt::print(stderr,
                 "keytrail log dump: unknown --type '{}'; use a payload name ({}) or its "
                 "CloudEvents type (io.keytrail.key.created.v1, ...)\n",
                 name, KnownTypes());
      return kExitUsage;
    }
    types.insert(type);
  }
  auto log = OpenLog(o.data, /*read_only=*/true);
  if (!log.ok()) return Fail("log dump", log.status());
  const int32_t count = (*log)->PartitionCount();
  std::vector<int32_t> partitions;
  if (o.partition >= 0) {
    if (o.partition >= count) {
      return Fail("log dump",
                  Status::InvalidArgument(fmt::format(
                      "--partition {}: the log has partitions 0..{}", o.partition, count - 1)));
    }
    if (!o.org.empty() && (*log)->PartitionFor(o.org) != o.partition) {
      fmt::print(stderr, "keytrail log dump: note: org '{}' lives in partition {}, not {}\n", o.org,
                 (*log)->PartitionFor(o.org), o.partition);
    }
    partitions.push_back(o.partition);
  } else if (!o.org.empty()) {
    partitions.push_back((*log)->PartitionFor(o.org));
  } else {
    for (int32_t p = 0; p < count; ++p) partitions.push_back(p);
  }
  Counts counts;
  for (int32_t p : partitions) {
    Status s = DumpPartition(**log, p, o, types, counts);
    if (!s.ok()) {
      std::fflush(stdout);
      return Fail("log dump", s);
    }
  }
  std::fflush(stdout);
  fmt::print(stderr, "keytrail log dump: {} records shown of {} read ({} undecodable)\n",
             counts.shown, counts.read, counts.bad);
  return kExitOk;
}

}  // namespace

void AddLogDump(CLI::App& app, int* rc) {
  CLI::App* log = app.add_subcommand("log", "Inspect the event log (operators)");
  log->require_subcommand(1);
  auto o = std::make_shared<DumpOptions>();
  CLI::App* dump = log->add_subcommand(
      "dump",
      "Print the log's records as JSON Lines (no secrets; undecodable records as "
      "{\"error\": ...} lines)");
  AddDataOptions(*dump, o->data);
  dump->add_option("--org", o->org, "only this org's events (and only its partition)");
  dump->add_option("--key,--aggregate", o->key,
                   "only events of this aggregate: a key id (also a group or org id)");
  dump->add_option("--type", o->types,
                   "only this payload type, e.g. KeyCreated or io.keytrail.key.created.v1 "
                   "(repeat for several)");
  dump->add_option("--partition", o->partition, "only this partition")
      ->check(CLI::NonNegativeNumber);
  dump->add_option("--from-offset", o->from_offset, "first offset to read (in each partition)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  dump->add_option("--to-offset", o->to_offset,
                   "stop before this offset (exclusive; default: the log's end)")
      ->check(CLI::NonNegativeNumber);
  dump->callback([o, rc] { *rc = RunDump(*o); });
}

}  // namespace keytrail::cli
