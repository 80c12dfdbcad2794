#include "projections/projector.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/big_endian.h"
#include "events/codec.h"
#include "events/epoch_fence.h"
#include "projections/row_key.h"

namespace keytrail::projections {
namespace {

using nlohmann::json;

constexpr std::string_view kSkipPrefix("\0skip/", 6);
constexpr std::string_view kClaimPrefix("\0claim/", 7);
constexpr int kMaxIdleSteps = 30;  // one second each

std::string EncodeSkip(const SkippedRecord& skip) {
  const json row = {{"org", skip.org},
                    {"reason", skip.reason},
                    {"error", skip.error},
                    {"operator", skip.operator_id},
                    {"skipped_at_us", skip.skipped_at_us}};
  return row.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<SkippedRecord> DecodeSkip(std::string_view bytes) {
  const json row = json::parse(bytes, nullptr, false);
  if (!row.is_object() || !row["skipped_at_us"].is_number_integer()) return std::nullopt;
  SkippedRecord skip;
  skip.org = row.value("org", "");
  skip.reason = row.value("reason", "");
  skip.error = row.value("error", "");
  skip.operator_id = row.value("operator", "");
  skip.skipped_at_us = row["skipped_at_us"].get<Micros>();
  return skip;
}

}  // namespace

std::string CheckpointKey(int32_t partition) {
  std::string key("\0ckpt/", 6);
  PutBigEndian32(&key, static_cast<uint32_t>(partition));
  return key;
}

Result<int64_t> ReadCheckpoint(ViewStore& store, int32_t partition) {
  auto value = store.Get(CheckpointKey(partition));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return int64_t{0};
  if ((*value)->size() != 8) {
    return Status::Corruption(fmt::format("checkpoint of partition {} is malformed", partition));
  }
  return static_cast<int64_t>(GetBigEndian64(**value));
}

std::string SkipPrefix() { return std::string(kSkipPrefix); }

std::string SkipPrefix(int32_t partition) {
  std::string key(kSkipPrefix);
  PutBigEndian32(&key, static_cast<uint32_t>(partition));
  return key;
}

std::string SkipKey(int32_t partition, int64_t offset) {
  std::string key = SkipPrefix(partition);
  PutBigEndian64(&key, static_cast<uint64_t>(offset));
  return key;
}

Result<std::map<int64_t, SkippedRecord>> ReadSkips(ViewStore& store, int32_t partition) {
  const std::string prefix = SkipPrefix(partition);
  std::map<int64_t, SkippedRecord> skips;
  Status malformed;
  Status scanned =
      store.Scan(prefix, PrefixEnd(prefix), [&](std::string_view key, std::string_view value) {
        auto skip = DecodeSkip(value);
        if (key.size() != prefix.size() + 8 || !skip) {
          malformed =
              Status::Corruption(fmt::format("a skip row of partition {} is malformed", partition));
          return false;
        }
        skips.emplace(static_cast<int64_t>(GetBigEndian64(key.substr(prefix.size()))),
                      std::move(*skip));
        return true;
      });
  KT_RETURN_IF_ERROR(scanned);
  KT_RETURN_IF_ERROR(malformed);
  return skips;
}

std::string ClaimKey(int32_t partition) {
  std::string key(kClaimPrefix);
  PutBigEndian32(&key, static_cast<uint32_t>(partition));
  return key;
}

std::string EncodeClaim(const events::PartitionClaim& claim) {
  std::string row;
  PutBigEndian64(&row, static_cast<uint64_t>(claim.epoch));
  PutBigEndian64(&row, static_cast<uint64_t>(claim.offset));
  PutComponent(&row, claim.node_id);
  row.append(claim.advertise_url);
  return row;
}

Result<events::PartitionClaim> ReadClaim(ViewStore& store, int32_t partition) {
  auto value = store.Get(ClaimKey(partition));
  if (!value.ok()) return value.status();
  events::PartitionClaim claim;
  if (!value->has_value()) return claim;
  const std::string_view row = **value;
  std::string_view rest = row.size() >= 16 ? row.substr(16) : std::string_view();
  std::string_view node;
  if (row.size() < 16 || !GetComponent(&rest, &node)) {
    return Status::Corruption(fmt::format("the claim row of partition {} is malformed", partition));
  }
  claim.epoch = static_cast<int64_t>(GetBigEndian64(row.substr(0, 8)));
  claim.offset = static_cast<int64_t>(GetBigEndian64(row.substr(8, 8)));
  claim.node_id = std::string(node);
  claim.advertise_url = std::string(rest);
  return claim;
}

Result<size_t> CopySkips(ViewStore& from, ViewStore& to) {
  auto batch = to.NewBatch();
  const std::string prefix = SkipPrefix();
  KT_RETURN_IF_ERROR(
      from.Scan(prefix, PrefixEnd(prefix), [&](std::string_view key, std::string_view value) {
        batch->Put(key, value);
        return true;
      }));
  const size_t copied = batch->Count();
  if (copied > 0) KT_RETURN_IF_ERROR(to.Commit(*batch));
  return copied;
}

struct Projector::PartitionState {
  int32_t partition = 0;
  int64_t next_offset = 0;
  std::shared_ptr<events::LogReader> reader;  // shared with Wake
  std::map<int64_t, SkippedRecord> skips;     // offsets an operator skipped
  events::EpochFence fence;                   // as of next_offset
  uint64_t fenced = 0;                        // events fenced since the state was loaded
  Status halted;                              // non-OK once a record could not be applied
};

Projector::Projector(events::EventLog& log, ViewStore& store, std::vector<Projection*> projections,
                     Options options)
    : log_(log), store_(store), projections_(std::move(projections)), options_(options) {
  partitions_.resize(log_.PartitionCount());
}

Projector::~Projector() = default;

Result<Projector::PartitionState*> Projector::State(int32_t partition) {
  if (partition < 0 || partition >= static_cast<int32_t>(partitions_.size())) {
    return Status::InvalidArgument(fmt::format("projector: no partition {}", partition));
  }
  auto& slot = partitions_[partition];
  if (slot) return slot.get();
  auto checkpoint = ReadCheckpoint(store_, partition);
  if (!checkpoint.ok()) return checkpoint.status();
  auto skips = ReadSkips(store_, partition);
  if (!skips.ok()) return skips.status();
  auto claim = ReadClaim(store_, partition);
  if (!claim.ok()) return claim.status();
  auto reader = log_.OpenReader(partition, *checkpoint);
  if (!reader.ok()) return reader.status();
  auto state = std::make_unique<PartitionState>();
  state->partition = partition;
  state->next_offset = *checkpoint;
  state->reader = std::move(reader).value();
  state->skips = std::move(skips).value();
  state->fence = events::EpochFence(std::move(claim).value());
  std::lock_guard lock(readers_mu_);
  slot = std::move(state);
  return slot.get();
}

void Projector::ResetPartition(int32_t partition) {
  std::lock_guard lock(readers_mu_);
  partitions_[partition].reset();
}

void Projector::Wake(int32_t partition) {
  std::shared_ptr<events::LogReader> reader;
  {
    std::lock_guard lock(readers_mu_);
    if (partition < 0 || partition >= static_cast<int32_t>(partitions_.size()) ||
        !partitions_[partition]) {
      return;
    }
    reader = partitions_[partition]->reader;
  }
  reader->Wake();
}

Status Projector::ApplyRecords(PartitionState& state, const std::vector<events::LogRecord>& records,
                               ViewBatch& batch) {
  for (const events::LogRecord& record : records) {
    if (record.offset != state.next_offset) {
      return Status::Corruption(fmt::format("partition {}: expected offset {}, log gave {}",
                                            state.partition, state.next_offset, record.offset));
    }
    const LogPosition position{state.partition, record.offset};
    if (auto skipped = state.skips.find(record.offset); skipped != state.skips.end()) {
      for (Projection* projection : projections_) {
        KT_RETURN_IF_ERROR(projection->ApplySkipped(position, skipped->second, batch));
      }
      ++state.next_offset;
      continue;
    }
    auto event = events::Decode(record.value);
    if (!event.ok()) {
      return Status::Corruption(fmt::format("poison record at partition {} offset {}: {}",
                                            state.partition, record.offset,
                                            event.status().message()));
    }
    if (!state.fence.Admit(record.offset, **event)) {
      for (Projection* projection : projections_) {
        KT_RETURN_IF_ERROR(projection->ApplyFenced(position, **event, state.fence.claim(), batch));
      }
      ++state.fenced;
      ++state.next_offset;
      continue;
    }
    for (Projection* projection : projections_) {
      Status s = projection->Apply(position, **event, batch);
      if (!s.ok()) {
        return Status(s.code(), fmt::format("projection {} failed at partition {} offset {}: {}",
                                            projection->prefix(), state.partition, record.offset,
                                            s.message()));
      }
    }
    ++state.next_offset;
  }
  for (Projection* projection : projections_) KT_RETURN_IF_ERROR(projection->Seal(batch));
  std::string checkpoint;
  PutBigEndian64(&checkpoint, static_cast<uint64_t>(state.next_offset));
  batch.Put(CheckpointKey(state.partition), checkpoint);
  batch.Put(ClaimKey(state.partition), EncodeClaim(state.fence.claim()));
  return Status::Ok();
}

Result<size_t> Projector::Step(int32_t partition, std::chrono::milliseconds wait) {
  return StepUntil(partition, INT64_MAX, wait);
}

Result<size_t> Projector::StepUntil(int32_t partition, int64_t end,
                                    std::chrono::milliseconds wait) {
  auto state = State(partition);
  if (!state.ok()) return state.status();
  PartitionState& s = **state;
  if (!s.halted.ok()) return s.halted;
  if (s.next_offset >= end) return size_t{0};
  const auto room = static_cast<uint64_t>(end - s.next_offset);
  auto records = s.reader->Next(std::min<uint64_t>(options_.max_batch_records, room), wait);
  if (!records.ok()) return records.status();
  if (records->empty()) return size_t{0};
  const int64_t first = s.next_offset;
  const events::EpochFence fence_before = s.fence;
  const uint64_t fenced_before = s.fenced;
  auto batch = store_.NewBatch();
  const Status applied = ApplyRecords(s, *records, *batch);
  const Status committed = applied.ok() ? store_.Commit(*batch) : applied;
  for (Projection* projection : projections_) {
    if (committed.ok()) {
      projection->Committed();
    } else {
      projection->Aborted();
    }
  }
  if (!applied.ok()) {
    // A record that cannot be applied: rewind, and refuse to go on until an operator acts.
    s.next_offset = first;
    s.fence = fence_before;
    s.fenced = fenced_before;
    s.halted = applied;
    return applied;
  }
  if (!committed.ok()) {
    // Not the records' fault (I/O): nothing of the run was committed, so the next call
    // starts over from the stored checkpoint with a fresh reader.
    ResetPartition(partition);
    return committed;
  }
  return records->size();
}

Status Projector::CatchUp(int32_t partition) {
  auto end = log_.EndOffset(partition);
  if (!end.ok()) return end.status();
  return CatchUpTo(partition, *end);
}

Status Projector::CatchUpTo(int32_t partition, int64_t end,
                            const std::function<void(size_t applied)>& on_applied) {
  int idle_steps = 0;
  while (true) {
    auto state = State(partition);
    if (!state.ok()) return state.status();
    if ((*state)->next_offset >= end) return Status::Ok();
    auto applied = StepUntil(partition, end, std::chrono::milliseconds(1000));
    if (!applied.ok()) return applied.status();
    if (*applied > 0 && on_applied) on_applied(*applied);
    idle_steps = *applied == 0 ? idle_steps + 1 : 0;
    if (idle_steps == kMaxIdleSteps) {
      return Status::Timeout(fmt::format("partition {}: log ends at {} but offset {} never arrived",
                                         partition, end, (*state)->next_offset));
    }
  }
}

Status Projector::CatchUpAll() {
  for (int32_t p = 0; p < log_.PartitionCount(); ++p) KT_RETURN_IF_ERROR(CatchUp(p));
  return Status::Ok();
}

Result<int64_t> Projector::Checkpoint(int32_t partition) {
  auto state = State(partition);
  if (!state.ok()) return state.status();
  return (*state)->next_offset;
}

Result<events::PartitionClaim> Projector::Claim(int32_t partition) {
  auto state = State(partition);
  if (!state.ok()) return state.status();
  return (*state)->fence.claim();
}

Result<uint64_t> Projector::FencedEvents(int32_t partition) {
  auto state = State(partition);
  if (!state.ok()) return state.status();
  return (*state)->fenced;
}

Result<std::vector<int64_t>> Projector::SkippedOffsets(int32_t partition) {
  auto state = State(partition);
  if (!state.ok()) return state.status();
  std::vector<int64_t> offsets;
  for (const auto& [offset, skip] : (*state)->skips) offsets.push_back(offset);
  return offsets;
}

Status Projector::TryApply(const LogPosition& position, const events::LogRecord& record) {
  auto event = events::Decode(record.value);
  if (!event.ok()) return event.status();
  auto scratch = store_.NewBatch();  // never committed
  Status applied;
  for (Projection* projection : projections_) {
    applied = projection->Apply(position, **event, *scratch);
    if (!applied.ok()) {
      applied = Status(applied.code(),
                       fmt::format("projection {}: {}", projection->prefix(), applied.message()));
      break;
    }
  }
  for (Projection* projection : projections_) projection->Aborted();
  return applied;
}

Status Projector::Skip(int32_t partition, int64_t offset, SkippedRecord skip) {
  auto state = State(partition);
  if (!state.ok()) return state.status();
  if (offset != (*state)->next_offset) {
    return Status::FailedPrecondition(fmt::format(
        "partition {}'s projector stands at offset {}; only the record there may be skipped, "
        "not offset {}",
        partition, (*state)->next_offset, offset));
  }
  auto end = log_.EndOffset(partition);
  if (!end.ok()) return end.status();
  if (offset >= *end) {
    return Status::NotFound(fmt::format("partition {} has no record at offset {} (it ends at {})",
                                        partition, offset, *end));
  }
  auto reader = log_.OpenReader(partition, offset);
  if (!reader.ok()) return reader.status();
  std::vector<events::LogRecord> records;
  for (int idle = 0; records.empty() && idle < kMaxIdleSteps; ++idle) {
    auto next = (*reader)->Next(1, std::chrono::milliseconds(1000));
    if (!next.ok()) return next.status();
    records = std::move(next).value();
  }
  if (records.empty() || records[0].offset != offset) {
    return Status::Timeout(
        fmt::format("partition {}: offset {} could not be read from the log", partition, offset));
  }
  const LogPosition position{partition, offset};
  const Status why = TryApply(position, records[0]);
  if (why.ok()) {
    return Status::FailedPrecondition(fmt::format(
        "the record at partition {} offset {} decodes and applies cleanly; refusing to skip it",
        partition, offset));
  }
  skip.org = records[0].key.size() <= 0xffff ? records[0].key : std::string();
  skip.error = why.message();

  auto batch = store_.NewBatch();
  batch->Put(SkipKey(partition, offset), EncodeSkip(skip));
  Status applied;
  for (Projection* projection : projections_) {
    applied = projection->ApplySkipped(position, skip, *batch);
    if (!applied.ok()) break;
  }
  for (Projection* projection : projections_) {
    if (!applied.ok()) break;
    applied = projection->Seal(*batch);
  }
  if (applied.ok()) {
    std::string checkpoint;
    PutBigEndian64(&checkpoint, static_cast<uint64_t>(offset + 1));
    batch->Put(CheckpointKey(partition), checkpoint);
    applied = store_.Commit(*batch);
  }
  for (Projection* projection : projections_) {
    if (applied.ok()) {
      projection->Committed();
    } else {
      projection->Aborted();
    }
  }
  // Either way, start over from the store: the checkpoint, the skips and a fresh reader.
  ResetPartition(partition);
  return applied;
}

}  // namespace keytrail::projections
