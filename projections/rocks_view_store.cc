#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "base/idle_action.h"
#include "projections/view_store.h"

namespace keytrail::projections {
namespace {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  return Status::IoError(fmt::format("view store: {}: {}", what, s.ToString()));
}

// RocksDB counts into thread-local perf counters at every key comparison unless the
// thread's perf level says not to, and in a shared librocksdb each of those thread-local
// accesses is a __tls_get_addr call: they were a tenth of a rebuild's CPU. Nothing here
// reads the counters, so each call into RocksDB first turns them off for its thread (the
// level is itself thread-local: threads may be new at every call).
void WithoutPerfCounters() { rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable); }

Result<std::optional<std::string>> ReadRow(rocksdb::DB* db, std::string_view key) {
  WithoutPerfCounters();
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "get");
  return std::optional<std::string>(std::move(value));
}

// MergeRow as RocksDB's merge operator: it runs when a merged row is read, flushed or
// compacted. It never fails: a failed merge would fail the compaction and stop the store.
// A row whose merge fails becomes empty, which the projections that merge read as no row
// (KeyViewProjection::MergeKeyRow). Not its base: a key row that dropped an operand it
// could not apply would read as if a revocation had never happened.
class RowMergeOperator final : public rocksdb::MergeOperator {
 public:
  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    std::vector<std::string_view> operands;
    operands.reserve(in.operand_list.size());
    for (const rocksdb::Slice& operand : in.operand_list)
      operands.push_back(operand.ToStringView());
    std::optional<std::string_view> base;
    if (in.existing_value != nullptr) base = in.existing_value->ToStringView();
    auto merged = MergeRow(in.key.ToStringView(), base, operands);
    out->new_value = merged.ok() ? std::move(merged).value() : std::string();
    return true;
  }
  const char* Name() const override { return "keytrail.MergeRow"; }
};

// Copies of byte strings that stay put until the arena goes: a batch's keys and values,
// without an allocation per row.
class Arena {
 public:
  std::string_view Copy(std::string_view bytes) {
    if (bytes.empty()) return {};  // before the first block, next_ is null
    if (bytes.size() > left_) {
      const size_t size = std::max(kBlockBytes, bytes.size());
      blocks_.push_back(std::make_unique<char[]>(size));
      next_ = blocks_.back().get();
      left_ = size;
    }
    char* copy = next_;
    std::memcpy(copy, bytes.data(), bytes.size());
    next_ += bytes.size();
    left_ -= bytes.size();
    bytes_ += bytes.size();
    return {copy, bytes.size()};
  }
  // Bytes copied in so far.
  size_t bytes() const { return bytes_; }

 private:
  static constexpr size_t kBlockBytes = 256 << 10;
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* next_ = nullptr;
  size_t left_ = 0;
  size_t bytes_ = 0;
};

// The batch's final write per key, found through an open-addressing hash table (reads
// through the batch use it); the RocksDB WriteBatch is built only at Commit, in key order
// and with one write per key. Both matter for speed: a key written many times in a run (a
// chain head, a key's row) reaches the memtable once, and inserting in key order lets the
// memtable's skip list resume each search where the previous one ended instead of at its
// top. Keys and values live in an arena, so a row costs no allocation of its own.
// Merges: into a row the batch puts, applied at once; into a row it does not,
// kept as the row's operands (a read through the batch applies them to the stored row) and
// handed to RocksDB as merges. A row read from the store stays in the table unwritten, so
// reading it again costs no RocksDB read: a batch's rows belong to one partition's orgs,
// which no other batch writes meanwhile.
class RocksViewBatch final : public ViewBatch {
 public:
  explicit RocksViewBatch(rocksdb::DB* db) : db_(db) {}

  void Put(std::string_view key, std::string_view value) override {
    Write(key, arena_.Copy(value), /*deleted=*/false);
  }
  void Delete(std::string_view key) override { Write(key, {}, /*deleted=*/true); }
  Status Merge(std::string_view key, std::string_view operand) override {
    const size_t hash = Hash(key);
    Row* row = Find(key, hash);
    if (row == nullptr) {
      row = &Add(key, {}, hash, /*deleted=*/false);
      row->merged = true;
    } else if (row->read) {  // as if never read: RocksDB merges, as for any stored row
      *row = Row{.key = row->key, .hash = hash, .merged = true};
    }
    if (row->merged) {
      row->operands.push_back(arena_.Copy(operand));
      ++count_;
      return Status::Ok();
    }
    std::optional<std::string_view> base;
    if (!row->deleted) base = row->value;
    auto merged = MergeRow(key, base, std::span<const std::string_view>(&operand, 1));
    if (!merged.ok()) return merged.status();
    row->value = arena_.Copy(*merged);
    row->deleted = false;
    ++count_;
    return Status::Ok();
  }
  Result<std::optional<std::string>> Get(std::string_view key) override {
    const size_t hash = Hash(key);
    const Row* row = Find(key, hash);
    if (row == nullptr) {
      // Kept as a row the batch read, not wrote: rows are read again and again within a
      // run (the actor's name for each of its events, a partition's chain head).
      auto stored = ReadRow(db_, key);
      if (!stored.ok()) return stored.status();
      Row& read = Add(key, stored->has_value() ? arena_.Copy(**stored) : std::string_view(), hash,
                      /*deleted=*/!stored->has_value());
      read.read = true;
      return stored;
    }
    if (row->merged) {
      auto stored = ReadRow(db_, key);
      if (!stored.ok()) return stored.status();
      std::optional<std::string_view> base;
      if (stored->has_value()) base = **stored;
      auto merged = MergeRow(key, base, row->operands);
      if (!merged.ok()) return merged.status();
      return std::optional<std::string>(std::move(merged).value());
    }
    if (row->deleted) return std::optional<std::string>();
    return std::optional<std::string>(row->value);
  }
  size_t Count() const override { return count_; }

  // The writes as a WriteBatch, in key order.
  rocksdb::WriteBatch Build() const {
    std::vector<const Row*> sorted;
    sorted.reserve(rows_.size());
    for (const Row& row : rows_) {
      if (!row.read) sorted.push_back(&row);
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const Row* a, const Row* b) { return a->key < b->key; });
    // Each write adds a tag and two varint lengths to its bytes (an upper bound: the
    // bytes of rows only read count too).
    rocksdb::WriteBatch batch(arena_.bytes() + 16 * rows_.size() + 64);
    for (const Row* row : sorted) {
      if (row->merged) {
        for (std::string_view operand : row->operands) batch.Merge(row->key, operand);
      } else if (row->deleted) {
        batch.Delete(row->key);
      } else {
        batch.Put(row->key, row->value);
      }
    }
    return batch;
  }

 private:
  struct Row {
    std::string_view key;  // in arena_
    std::string_view value;
    size_t hash;
    bool deleted = false;
    bool merged = false;  // holds `operands` to merge into the stored row, not a value
    bool read = false;    // the stored row as Get read it (absent if `deleted`): no write
    std::vector<std::string_view> operands;  // in arena_
  };
  static constexpr uint32_t kEmpty = UINT32_MAX;

  static size_t Hash(std::string_view key) { return std::hash<std::string_view>()(key); }

  Row* Find(std::string_view key, size_t hash) {
    if (table_.empty()) return nullptr;
    for (size_t i = hash & (table_.size() - 1);; i = (i + 1) & (table_.size() - 1)) {
      if (table_[i] == kEmpty) return nullptr;
      Row& row = rows_[table_[i]];
      if (row.hash == hash && row.key == key) return &row;
    }
  }

  void Write(std::string_view key, std::string_view value, bool deleted) {
    ++count_;
    const size_t hash = Hash(key);
    if (Row* row = Find(key, hash)) {
      row->value = value;
      row->deleted = deleted;
      row->merged = false;
      row->read = false;
      row->operands.clear();
      return;
    }
    Add(key, value, hash, deleted);
  }

  Row& Add(std::string_view key, std::string_view value, size_t hash, bool deleted) {
    if (2 * (rows_.size() + 1) > table_.size()) Grow();
    rows_.push_back({.key = arena_.Copy(key), .value = value, .hash = hash, .deleted = deleted});
    Place(rows_.size() - 1);
    return rows_.back();
  }

  // Puts rows_[row] in the first free slot of its probe sequence.
  void Place(size_t row) {
    size_t i = rows_[row].hash & (table_.size() - 1);
    while (table_[i] != kEmpty) i = (i + 1) & (table_.size() - 1);
    table_[i] = static_cast<uint32_t>(row);
  }

  // Doubles the table (at most half full, so probe sequences stay short).
  void Grow() {
    table_.assign(std::max<size_t>(1024, 2 * table_.size()), kEmpty);
    for (size_t row = 0; row < rows_.size(); ++row) Place(row);
  }

  rocksdb::DB* db_;
  Arena arena_;
  std::vector<Row> rows_;        // one per key, in first-write order
  std::vector<uint32_t> table_;  // indexes into rows_, or kEmpty; size a power of two
  size_t count_ = 0;
};

class RocksViewStore final : public ViewStore {
 public:
  RocksViewStore(std::unique_ptr<rocksdb::DB> db, RocksViewStoreOptions options)
      : db_(std::move(db)), options_(options) {
    write_options_.disableWAL = options.bulk_load;
    if (!options.read_only && !options.bulk_load && options.idle_flush_after.count() > 0) {
      idle_flush_ = std::make_unique<IdleAction>(options.idle_flush_after, [this] { IdleFlush(); });
    }
  }

  std::unique_ptr<ViewBatch> NewBatch() override {
    return std::make_unique<RocksViewBatch>(db_.get());
  }

  Status Commit(ViewBatch& batch) override {
    if (options_.read_only) return Status::FailedPrecondition("view store is open read-only");
    WithoutPerfCounters();
    rocksdb::WriteBatch rocks_batch = static_cast<RocksViewBatch&>(batch).Build();
    KT_RETURN_IF_ERROR(FromRocks(db_->Write(write_options_, &rocks_batch), "commit"));
    if (idle_flush_) idle_flush_->Touch();
    return Status::Ok();
  }

  Status Flush() override {
    if (options_.read_only) return Status::Ok();
    rocksdb::FlushOptions flush;
    flush.wait = true;
    KT_RETURN_IF_ERROR(FromRocks(db_->Flush(flush), "flush"));
    return FromRocks(db_->SyncWAL(), "sync");
  }
  Status Compact() override {
    KT_RETURN_IF_ERROR(Flush());
    if (options_.read_only) return Status::Ok();
    WithoutPerfCounters();
    return FromRocks(db_->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr),
                     "compact");
  }

  Result<std::optional<std::string>> Get(std::string_view key) override {
    return ReadRow(db_.get(), key);
  }

  Status Scan(std::string_view begin, std::string_view end, const RowVisitor& visit) override {
    WithoutPerfCounters();
    rocksdb::ReadOptions options;
    rocksdb::Slice upper(end);
    if (!end.empty()) options.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options));
    for (it->Seek(begin); it->Valid(); it->Next()) {
      if (!visit(it->key().ToStringView(), it->value().ToStringView())) break;
    }
    return FromRocks(it->status(), "scan");
  }

 private:
  // Commits stopped: hand the memtable's memory back (its rows go to a file; the WAL
  // already holds them, so nothing waits for this).
  void IdleFlush() {
    uint64_t bytes = 0;
    if (!db_->GetIntProperty("rocksdb.cur-size-active-mem-table", &bytes) ||
        bytes < options_.idle_flush_min_bytes) {
      return;
    }
    rocksdb::FlushOptions flush;
    flush.wait = false;
    flush.allow_write_stall = true;
    db_->Flush(flush).PermitUncheckedError();  // a failed flush leaves the rows where they were
  }

  std::unique_ptr<rocksdb::DB> db_;
  const RocksViewStoreOptions options_;
  rocksdb::WriteOptions write_options_;
  std::unique_ptr<IdleAction> idle_flush_;  // after db_: stops before the database closes
};

}  // namespace

Result<std::unique_ptr<ViewStore>> OpenRocksViewStore(const std::string& path,
                                                      RocksViewStoreOptions store_options) {
  rocksdb::Options options;
  options.create_if_missing = !store_options.read_only;
  options.IncreaseParallelism(2);
  // Compactions run at the lowest CPU priority (nice 19, for the default environment's
  // compaction threads, which every store in the process shares): on a machine whose
  // cores are busy, verifies and the writers go first, and compactions catch up when
  // there is CPU to spare. The price: under a load that keeps every core busy for
  // minutes (verifies at full speed while keys are written), compactions can fall far
  // enough behind that RocksDB slows and then stops the view writes
  // (level0_slowdown_writes_trigger, level0_stop_writes_trigger) until the load eases.
  // Flushes keep their priority: a late flush stalls writes at once.
  options.env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW, rocksdb::CpuPriority::kLow)
      .PermitUncheckedError();  // not supported: compactions keep the normal priority
  // 32 MiB memtables (RocksDB's default is 64): up to two are resident, and at 1M keys
  // the difference is ~64 B per key of a 300 B budget; the views are rebuilt from the log,
  // so smaller, more frequent flushes cost only background work.
  options.write_buffer_size = 32 << 20;
  if (store_options.bulk_load) {
    // Fewer, larger flushes while the whole store is written at once.
    options.write_buffer_size = 256 << 20;
    options.max_write_buffer_number = 4;
  }
  // Bloom filters (10 bits per row): most reads are point lookups (an audit record by
  // position, a key's row), and without filters each one searches every level and L0 file
  // whose range covers the key (measured once, audit pages over 1M events: p50 785 -> 559 us).
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Rows that take merge operands (the key view's key rows; MergeRow).
  options.merge_operator = std::make_shared<RowMergeOperator>();
  rocksdb::DB* db = nullptr;
  const rocksdb::Status s = store_options.read_only
                                ? rocksdb::DB::OpenForReadOnly(options, path, &db)
                                : rocksdb::DB::Open(options, path, &db);
  if (!s.ok()) {
    // RocksDB reports a held LOCK as an I/O error: "While lock file: <path>/LOCK:
    // Resource temporarily unavailable".
    if (s.ToString().find("lock file") != std::string::npos) {
      return Status::FailedPrecondition(fmt::format(
          "the view store {} is in use by another process (is keytrail serve running? stop "
          "it first)",
          path));
    }
    if (store_options.read_only && (s.IsPathNotFound() || s.IsInvalidArgument())) {
      return Status::NotFound(fmt::format("no view store at {}: {}", path, s.ToString()));
    }
    return FromRocks(s, fmt::format("open {}", path));
  }
  return std::unique_ptr<ViewStore>(
      new RocksViewStore(std::unique_ptr<rocksdb::DB>(db), store_options));
}

}  // namespace keytrail::projections
