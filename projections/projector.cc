#include "projections/projector.h"

#include <fmt/format.h>

#include "base/big_endian.h"
#include "events/codec.h"

namespace keytrail::projections {

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

struct Projector::PartitionState {
  int32_t partition = 0;
  int64_t next_offset = 0;
  std::unique_ptr<events::LogReader> reader;
  Status halted;  // non-OK once a record could not be applied
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
  auto reader = log_.OpenReader(partition, *checkpoint);
  if (!reader.ok()) return reader.status();
  slot = std::make_unique<PartitionState>();
  slot->partition = partition;
  slot->next_offset = *checkpoint;
  slot->reader = std::move(reader).value();
  return slot.get();
}

Status Projector::ApplyRecords(PartitionState& state,
                               const std::vector<events::LogRecord>& records) {
  auto batch = store_.NewBatch();
  for (const events::LogRecord& record : records) {
    if (record.offset != state.next_offset) {
      return Status::Corruption(fmt::format("partition {}: expected offset {}, log gave {}",
                                            state.partition, state.next_offset, record.offset));
    }
    auto event = events::Decode(record.value);
    if (!event.ok()) {
      return Status::Corruption(fmt::format("poison record at partition {} offset {}: {}",
                                            state.partition, record.offset,
                                            event.status().message()));
    }
    const LogPosition position{state.partition, record.offset};
    for (Projection* projection : projections_) {
      Status s = projection->Apply(position, **event, *batch);
      if (!s.ok()) {
        return Status(s.code(), fmt::format("projection {} failed at partition {} offset {}: {}",
                                            projection->prefix(), state.partition, record.offset,
                                            s.message()));
      }
    }
    ++state.next_offset;
  }
  std::string checkpoint;
  PutBigEndian64(&checkpoint, static_cast<uint64_t>(state.next_offset));
  batch->Put(CheckpointKey(state.partition), checkpoint);
  return store_.Commit(*batch);
}

Result<size_t> Projector::Step(int32_t partition, std::chrono::milliseconds wait) {
  auto state = State(partition);
  if (!state.ok()) return state.status();
  PartitionState& s = **state;
  if (!s.halted.ok()) return s.halted;
  auto records = s.reader->Next(options_.max_batch_records, wait);
  if (!records.ok()) return records.status();
  if (records->empty()) return size_t{0};
  const int64_t first = s.next_offset;
  Status applied = ApplyRecords(s, *records);
  for (Projection* projection : projections_) {
    if (applied.ok()) {
      projection->Committed();
    } else {
      projection->Aborted();
    }
  }
  if (!applied.ok()) {
    // Nothing of this run was committed: rewind, and refuse to go on until an operator
    // acts. A failed commit (I/O) is not the record's fault, but the reader has moved
    // past it, so the projector must be rebuilt to retry either way.
    s.next_offset = first;
    s.halted = applied;
    return applied;
  }
  return records->size();
}

Status Projector::CatchUp(int32_t partition) {
  constexpr int kMaxIdleSteps = 30;  // one second each
  auto end = log_.EndOffset(partition);
  if (!end.ok()) return end.status();
  int idle_steps = 0;
  while (true) {
    auto state = State(partition);
    if (!state.ok()) return state.status();
    if ((*state)->next_offset >= *end) return Status::Ok();
    auto applied = Step(partition, std::chrono::milliseconds(1000));
    if (!applied.ok()) return applied.status();
    idle_steps = *applied == 0 ? idle_steps + 1 : 0;
    if (idle_steps == kMaxIdleSteps) {
      return Status::Timeout(fmt::format("partition {}: log ends at {} but offset {} never arrived",
                                         partition, *end, (*state)->next_offset));
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

}  // namespace keytrail::projections
