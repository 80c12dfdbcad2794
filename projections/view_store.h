// ViewStore: the ordered key-value store that holds every projection's rows and the
// projectors' checkpoints. One Commit is atomic: all of a batch's writes become visible
// and durable together, or none do. Keys compare bytewise.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace keytrail::projections {

// How a row that took merge operands (ViewBatch::Merge) reads: `base` (the row before
// them, if any) with `operands` applied in order. Defined by the projections whose rows
// take merges (projections/view_merge.cc); every ViewStore applies it, the RocksDB store
// when such a row is read or compacted. Errors: kCorruption if an operand does not apply
// (no base where one is needed, a malformed operand, a row that takes no merges).
Result<std::string> MergeRow(std::string_view key, std::optional<std::string_view> base,
                             std::span<const std::string_view> operands);

// Writes pending for one Commit. Reads see the batch's own writes first, then the store.
// Not thread-safe.
class ViewBatch {
 public:
  virtual ~ViewBatch() = default;
  virtual void Put(std::string_view key, std::string_view value) = 0;
  virtual void Delete(std::string_view key) = 0;
  // Changes row `key` to MergeRow(key, row or nullopt, {operand}). A store that can,
  // defers the merge to when the row is read or compacted, so the write reads no row (the
  // RocksDB store does, and a merge that fails there leaves the row empty). This default
  // reads, merges and puts. Errors: the read's, MergeRow's.
  virtual Status Merge(std::string_view key, std::string_view operand);
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  // Number of Put, Delete and Merge calls so far.
  virtual size_t Count() const = 0;
};

// Called for each row of a Scan, in key order; return false to stop.
using RowVisitor = std::function<bool(std::string_view key, std::string_view value)>;

// Thread-safe.
class ViewStore {
 public:
  virtual ~ViewStore() = default;
  ViewStore() = default;
  ViewStore(const ViewStore&) = delete;
  ViewStore& operator=(const ViewStore&) = delete;

  virtual std::unique_ptr<ViewBatch> NewBatch() = 0;
  // Applies `batch` atomically. REQUIRES: batch came from this store's NewBatch().
  virtual Status Commit(ViewBatch& batch) = 0;
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  // Visits rows with begin <= key < end (end empty = no upper bound).
  virtual Status Scan(std::string_view begin, std::string_view end, const RowVisitor& visit) = 0;
  // Makes every committed batch durable on disk (a store opened for bulk loading keeps
  // them in memory until then). Default: nothing to do.
  virtual Status Flush() { return Status::Ok(); }
  // Flushes, then rewrites the whole store into its most compact form for reads, waiting
  // until done (minutes for millions of rows). For a freshly built store, before it serves
  // reads: otherwise the background compactions its bulk load leaves behind compete with
  // every read for a while. Default: nothing to do.
  virtual Status Compact() { return Flush(); }
};

struct RocksViewStoreOptions {
  // Open an existing store without taking its lock, as a snapshot of what was committed
  // when it was opened; Commit fails with kFailedPrecondition. Works while another
  // process (a running server) writes the store.
  bool read_only = false;
  // For a fresh store built offline (rebuild): commits skip the WAL, so a crash loses
  // them; call Flush() before relying on the store.
  bool bulk_load = false;
  // Once commits have stopped for this long, a memtable holding at least
  // idle_flush_min_bytes is flushed to a file, so that an idle server hands its write
  // buffers (up to 32 MiB) back. Zero: never. Not for read-only or bulk-load stores.
  std::chrono::milliseconds idle_flush_after{2000};
  size_t idle_flush_min_bytes = 1 << 20;
};

// A ViewStore in its own RocksDB instance at `path` (created if missing, unless
// read_only). Commits go through RocksDB's WAL without fsync: a process crash loses
// nothing committed, and a power cut loses at most a tail of whole batches (rows with
// their checkpoint), which the projector re-applies from the log.
// Errors: kFailedPrecondition if another process has the store open for writing (its
// RocksDB LOCK is held, e.g. by `keytrail serve`); kNotFound if read_only and there is no
// store at `path`; kIoError otherwise.
Result<std::unique_ptr<ViewStore>> OpenRocksViewStore(const std::string& path,
                                                      RocksViewStoreOptions options = {});

}  // namespace keytrail::projections
