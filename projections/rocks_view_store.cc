#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "projections/view_store.h"

namespace keytrail::projections {
namespace {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  return Status::IoError(fmt::format("view store: {}: {}", what, s.ToString()));
}

// The batch's final write per key, in a hash map that reads through the batch use; the
// RocksDB WriteBatch is built only at Commit, in key order and with one write per key.
// Both matter for speed: a key written many times in a run (a chain head, a key's row)
// reaches the memtable once, and inserting in key order lets the memtable's skip list
// resume each search where the previous one ended instead of at its top.
class RocksViewBatch final : public ViewBatch {
 public:
  explicit RocksViewBatch(rocksdb::DB* db) : db_(db) {}

  void Put(std::string_view key, std::string_view value) override {
    written_.insert_or_assign(std::string(key), std::optional<std::string>(value));
    ++count_;
  }
  void Delete(std::string_view key) override {
    written_.insert_or_assign(std::string(key), std::nullopt);
    ++count_;
  }
  Result<std::optional<std::string>> Get(std::string_view key) override {
    if (auto it = written_.find(std::string(key)); it != written_.end()) return it->second;
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "get");
    return std::optional<std::string>(std::move(value));
  }
  size_t Count() const override { return count_; }

  // The writes as a WriteBatch, in key order.
  rocksdb::WriteBatch Build() const {
    std::vector<const std::pair<const std::string, std::optional<std::string>>*> rows;
    rows.reserve(written_.size());
    for (const auto& row : written_) rows.push_back(&row);
    std::sort(rows.begin(), rows.end(),
              [](const auto* a, const auto* b) { return a->first < b->first; });
    rocksdb::WriteBatch batch;
    for (const auto* row : rows) {
      if (row->second) {
        batch.Put(row->first, *row->second);
      } else {
        batch.Delete(row->first);
      }
    }
    return batch;
  }

 private:
  rocksdb::DB* db_;
  std::unordered_map<std::string, std::optional<std::string>> written_;
  size_t count_ = 0;
};

class RocksViewStore final : public ViewStore {
 public:
  RocksViewStore(std::unique_ptr<rocksdb::DB> db, RocksViewStoreOptions options)
      : db_(std::move(db)), options_(options) {
    write_options_.disableWAL = options.bulk_load;
  }

  std::unique_ptr<ViewBatch> NewBatch() override {
    return std::make_unique<RocksViewBatch>(db_.get());
  }

  Status Commit(ViewBatch& batch) override {
    if (options_.read_only) return Status::FailedPrecondition("view store is open read-only");
    rocksdb::WriteBatch rocks_batch = static_cast<RocksViewBatch&>(batch).Build();
    return FromRocks(db_->Write(write_options_, &rocks_batch), "commit");
  }

  Status Flush() override {
    if (options_.read_only) return Status::Ok();
    rocksdb::FlushOptions flush;
    flush.wait = true;
    KT_RETURN_IF_ERROR(FromRocks(db_->Flush(flush), "flush"));
    return FromRocks(db_->SyncWAL(), "sync");
  }

  Result<std::optional<std::string>> Get(std::string_view key) override {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "get");
    return std::optional<std::string>(std::move(value));
  }

  Status Scan(std::string_view begin, std::string_view end, const RowVisitor& visit) override {
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
  std::unique_ptr<rocksdb::DB> db_;
  const RocksViewStoreOptions options_;
  rocksdb::WriteOptions write_options_;
};

}  // namespace

Result<std::unique_ptr<ViewStore>> OpenRocksViewStore(const std::string& path,
                                                      RocksViewStoreOptions store_options) {
  rocksdb::Options options;
  options.create_if_missing = !store_options.read_only;
  options.IncreaseParallelism(2);
  options.write_buffer_size = 64 << 20;
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
