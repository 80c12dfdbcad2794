#include "events/local_event_log.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

#include <fmt/format.h>

#include "base/big_endian.h"
#include "base/idle_action.h"

namespace keytrail::events {
namespace {

constexpr char kMetaPartitions[] = "partitions";
constexpr size_t kRecordKeySize = 12;
// A group never grows past this many bytes, so one huge batch cannot stall the others.
constexpr size_t kMaxGroupBytes = 8 << 20;

std::string RecordKey(int32_t partition, int64_t offset) {
  std::string key;
  key.reserve(kRecordKeySize);
  PutBigEndian32(&key, static_cast<uint32_t>(partition));
  PutBigEndian64(&key, static_cast<uint64_t>(offset));
  return key;
}

// value = key length (4 bytes, big-endian) ‖ key ‖ encoded envelope
std::string RecordValue(std::string_view key, std::string_view event) {
  std::string value;
  value.reserve(4 + key.size() + event.size());
  PutBigEndian32(&value, static_cast<uint32_t>(key.size()));
  value.append(key);
  value.append(event);
  return value;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  return Status::IoError(fmt::format("local log: {}: {}", what, s.ToString()));
}

}  // namespace

struct LocalEventLog::Impl {
  // One pending Append, queued until a leader writes it.
  struct Writer {
    int32_t partition;
    std::string_view org;
    std::span<const std::string> events;
    std::vector<int64_t> offsets;
    Status status;
    bool done = false;
  };

  Options options;
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyHandle* records = nullptr;  // owned by db
  std::vector<rocksdb::ColumnFamilyHandle*> handles;

  std::mutex mu;
  std::deque<Writer*> writers;         // guarded by mu; front() is the leader
  std::condition_variable writers_cv;  // a group finished, or a writer became the leader
  std::condition_variable leader_cv;   // enough writers joined a lingering leader
  bool leader_lingering = false;       // guarded by mu
  size_t last_group_size = 1;          // guarded by mu
  std::vector<int64_t> next_offset;    // guarded by mu; only the leader changes it
  std::unique_ptr<std::atomic<int64_t>[]> durable_end;  // per partition; readers see below
  std::condition_variable appended;                     // signalled after each durable group write
  std::atomic<uint64_t> appends{0};
  std::atomic<uint64_t> synced_writes{0};

  // Flushes the records' memtable once appends stop (Options::idle_flush_after).
  std::unique_ptr<IdleAction> idle_flush;

  ~Impl() {
    idle_flush.reset();  // before the handles and the database it flushes go
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  }

  Status Recover();
  void IdleFlush();
  void WriteGroup(std::unique_lock<std::mutex>& lock);
};

void LocalEventLog::Impl::IdleFlush() {
  // Appends stopped: hand the memtable's memory back (the WAL holds its records already,
  // so nothing waits for this; a failed flush leaves them where they were).
  uint64_t bytes = 0;
  if (!db->GetIntProperty(records, "rocksdb.cur-size-active-mem-table", &bytes) ||
      bytes < options.idle_flush_min_bytes) {
    return;
  }
  rocksdb::FlushOptions flush;
  flush.wait = false;
  flush.allow_write_stall = true;
  db->Flush(flush, records).PermitUncheckedError();
}

Status LocalEventLog::Impl::Recover() {
  std::string stored;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), handles[0], kMetaPartitions, &stored);
  if (s.IsNotFound() && options.read_only) {
    return Status::NotFound(fmt::format("{} holds no keytrail log", options.path));
  } else if (s.IsNotFound()) {
    KT_RETURN_IF_ERROR(FromRocks(db->Put(rocksdb::WriteOptions(), handles[0], kMetaPartitions,
                                         std::to_string(options.partitions)),
                                 "write partition count"));
  } else if (!s.ok()) {
    return FromRocks(s, "read partition count");
  } else if (stored != std::to_string(options.partitions)) {
    return Status::InvalidArgument(fmt::format("local log at {} has {} partitions, not {}",
                                               options.path, stored, options.partitions));
  }

  next_offset.assign(options.partitions, 0);
  durable_end = std::make_unique<std::atomic<int64_t>[]>(options.partitions);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), records));
  for (int32_t p = 0; p < options.partitions; ++p) {
    it->SeekForPrev(RecordKey(p, INT64_MAX));
    int64_t end = 0;
    if (it->Valid() && it->key().size() == kRecordKeySize &&
        GetBigEndian32(it->key().ToStringView()) == static_cast<uint32_t>(p)) {
      end = static_cast<int64_t>(GetBigEndian64(it->key().ToStringView().substr(4))) + 1;
    }
    KT_RETURN_IF_ERROR(FromRocks(it->status(), "scan partition ends"));
    next_offset[p] = end;
    durable_end[p].store(end);
  }
  return Status::Ok();
}

// Called by the leader with `lock` held; returns with it released. Writes the leader's
// append together with every append queued behind it, in one synced WriteBatch.
void LocalEventLog::Impl::WriteGroup(std::unique_lock<std::mutex>& lock) {
  // Appenders of the previous group are likely on their way back; give them a moment so
  // that they share this sync instead of forming a small group of their own.
  if (writers.size() < last_group_size && options.group_linger.count() > 0) {
    leader_lingering = true;
    leader_cv.wait_for(lock, options.group_linger,
                       [&] { return writers.size() >= last_group_size; });
    leader_lingering = false;
  }
  rocksdb::WriteBatch batch;
  std::vector<Writer*> group;
  std::vector<int64_t> next = next_offset;  // tentative until the write succeeds
  size_t bytes = 0;
  for (Writer* w : writers) {
    if (!group.empty() && bytes > kMaxGroupBytes) break;
    w->offsets.clear();
    for (const std::string& event : w->events) {
      const int64_t offset = next[w->partition]++;
      w->offsets.push_back(offset);
      batch.Put(records, RecordKey(w->partition, offset), RecordValue(w->org, event));
      bytes += event.size() + kRecordKeySize;
    }
    group.push_back(w);
  }
  last_group_size = group.size();

  lock.unlock();
  rocksdb::WriteOptions write_options;
  write_options.sync = options.sync;
  const Status status = FromRocks(db->Write(write_options, &batch), "append");
  if (status.ok() && idle_flush) idle_flush->Touch();
  lock.lock();

  synced_writes.fetch_add(1, std::memory_order_relaxed);
  if (status.ok()) {
    next_offset = std::move(next);
    for (Writer* w : group) durable_end[w->partition].store(next_offset[w->partition]);
    appended.notify_all();
  }
  for (Writer* w : group) {
    writers.pop_front();
    w->status = status;
    w->done = true;
  }
  // One wake-up call for the whole group and the next leader, made without the lock so
  // that the woken threads do not queue on it.
  lock.unlock();
  writers_cv.notify_all();
}

LocalEventLog::LocalEventLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalEventLog::~LocalEventLog() = default;

Result<std::unique_ptr<LocalEventLog>> LocalEventLog::Open(const Options& options) {
  if (options.path.empty()) return Status::InvalidArgument("local log: path is empty");
  if (options.partitions <= 0 || options.partitions > 4096) {
    return Status::InvalidArgument(
        fmt::format("local log: partitions must be 1..4096, not {}", options.partitions));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.IncreaseParallelism(2);
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = 64 << 20;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, cf_options}, {"records", cf_options}};
  rocksdb::DB* db = nullptr;
  rocksdb::Status opened;
  if (options.read_only) {
    db_options.create_if_missing = false;
    opened = rocksdb::DB::OpenForReadOnly(db_options, options.path, families, &impl->handles, &db);
  } else {
    opened = rocksdb::DB::Open(db_options, options.path, families, &impl->handles, &db);
  }
  if (!opened.ok()) {
    // RocksDB reports a held LOCK as an I/O error ("While lock file: <path>/LOCK: ...").
    if (opened.ToString().find("lock file") != std::string::npos) {
      return Status::FailedPrecondition(fmt::format(
          "the local log {} is in use by another process (is keytrail serve running? stop it "
          "first)",
          options.path));
    }
    if (options.read_only && (opened.IsPathNotFound() || opened.IsInvalidArgument())) {
      return Status::NotFound(
          fmt::format("no local log at {}: {}", options.path, opened.ToString()));
    }
    return FromRocks(opened, fmt::format("open {}", options.path));
  }
  impl->db.reset(db);
  impl->records = impl->handles[1];
  KT_RETURN_IF_ERROR(impl->Recover());
  if (!options.read_only && options.idle_flush_after.count() > 0) {
    Impl* raw = impl.get();
    impl->idle_flush =
        std::make_unique<IdleAction>(options.idle_flush_after, [raw] { raw->IdleFlush(); });
  }
  return std::unique_ptr<LocalEventLog>(new LocalEventLog(std::move(impl)));
}

int32_t LocalEventLog::PartitionCount() const { return impl_->options.partitions; }

Result<std::vector<int64_t>> LocalEventLog::Append(std::string_view org,
                                                   std::span<const std::string> events) {
  if (impl_->options.read_only) {
    return Status::FailedPrecondition("local log: opened read-only");
  }
  if (events.empty()) return std::vector<int64_t>{};
  Impl::Writer w;
  w.partition = PartitionFor(org);
  w.org = org;
  w.events = events;

  std::unique_lock lock(impl_->mu);
  impl_->writers.push_back(&w);
  if (impl_->leader_lingering && impl_->writers.size() >= impl_->last_group_size) {
    impl_->leader_cv.notify_one();
  }
  impl_->writers_cv.wait(lock, [&] { return w.done || &w == impl_->writers.front(); });
  if (!w.done) impl_->WriteGroup(lock);
  impl_->appends.fetch_add(1, std::memory_order_relaxed);
  if (!w.status.ok()) return w.status;
  return std::move(w.offsets);
}

Result<int64_t> LocalEventLog::EndOffset(int32_t partition) {
  if (partition < 0 || partition >= impl_->options.partitions) {
    return Status::InvalidArgument(fmt::format("local log: no partition {}", partition));
  }
  return impl_->durable_end[partition].load();
}

LocalEventLog::Stats LocalEventLog::GetStats() const {
  return {impl_->appends.load(), impl_->synced_writes.load()};
}

namespace {

class LocalLogReader final : public LogReader {
 public:
  LocalLogReader(LocalEventLog::Impl* log, int32_t partition, int64_t offset)
      : log_(log), partition_(partition), position_(offset) {}

  void Wake() override {
    {
      std::lock_guard lock(log_->mu);
      woken_.store(true);
    }
    log_->appended.notify_all();
  }

  Result<std::vector<LogRecord>> Next(size_t max_records, std::chrono::milliseconds wait) override {
    std::vector<LogRecord> out;
    int64_t end = log_->durable_end[partition_].load();
    if (end <= position_) {
      std::unique_lock lock(log_->mu);
      log_->appended.wait_for(lock, wait, [&] {
        end = log_->durable_end[partition_].load();
        return end > position_ || woken_.load();
      });
      woken_.store(false);
      if (end <= position_) return out;
    }
    end = std::min<int64_t>(end, position_ + static_cast<int64_t>(max_records));
    const std::string upper = RecordKey(partition_, end);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions read_options;
    read_options.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(log_->db->NewIterator(read_options, log_->records));
    out.reserve(end - position_);
    // Advance a local cursor; position_ moves only when the whole run is good.
    int64_t cursor = position_;
    for (it->Seek(RecordKey(partition_, cursor)); it->Valid(); it->Next()) {
      const std::string_view key = it->key().ToStringView();
      const std::string_view value = it->value().ToStringView();
      const int64_t offset = static_cast<int64_t>(GetBigEndian64(key.substr(4)));
      if (offset != cursor) {
        return Status::Corruption(
            fmt::format("local log: partition {} has a gap at offset {}", partition_, cursor));
      }
      const uint32_t key_size = value.size() >= 4 ? GetBigEndian32(value) : UINT32_MAX;
      if (key_size > value.size() - 4) {
        return Status::Corruption(
            fmt::format("local log: record {}/{} has a malformed frame", partition_, offset));
      }
      out.push_back(LogRecord{partition_, offset, std::string(value.substr(4, key_size)),
                              std::string(value.substr(4 + key_size))});
      ++cursor;
    }
    KT_RETURN_IF_ERROR(FromRocks(it->status(), "read"));
    if (cursor != end) {
      return Status::Corruption(
          fmt::format("local log: partition {} is missing offset {}", partition_, cursor));
    }
    position_ = cursor;
    return out;
  }

 private:
  LocalEventLog::Impl* log_;
  const int32_t partition_;
  int64_t position_;
  std::atomic<bool> woken_{false};
};

}  // namespace

Result<std::unique_ptr<LogReader>> LocalEventLog::OpenReader(int32_t partition, int64_t offset) {
  if (partition < 0 || partition >= impl_->options.partitions) {
    return Status::InvalidArgument(fmt::format("local log: no partition {}", partition));
  }
  if (offset < 0) return Status::InvalidArgument("local log: negative offset");
  return std::unique_ptr<LogReader>(new LocalLogReader(impl_.get(), partition, offset));
}

}  // namespace keytrail::events
