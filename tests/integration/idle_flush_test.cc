// The RocksDB stores hand their write buffers back once writes stop: the memtable goes to
// a file (seen as an .sst in the store's directory) and every row stays readable.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "events/local_event_log.h"
#include "projections/view_store.h"
#include "tests/support/temp_dir.h"

namespace keytrail {
namespace {

using namespace std::chrono_literals;

bool HasTableFile(const std::string& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".sst") return true;
  }
  return false;
}

// Waits up to 10 s for a table file in `dir`.
bool TableFileAppears(const std::string& dir) {
  for (int i = 0; i < 1000 && !HasTableFile(dir); ++i) std::this_thread::sleep_for(10ms);
  return HasTableFile(dir);
}

Status CommitRow(projections::ViewStore& store, const std::string& key) {
  auto batch = store.NewBatch();
  batch->Put(key, "value of " + key);
  return store.Commit(*batch);
}

// A view store at `dir` holding row "a", idle-flushed after `after` (0: never) when its
// memtable holds at least `min_bytes`.
std::unique_ptr<projections::ViewStore> StoreWithARow(const std::string& dir,
                                                      std::chrono::milliseconds after,
                                                      size_t min_bytes) {
  projections::RocksViewStoreOptions options;
  options.idle_flush_after = after;
  options.idle_flush_min_bytes = min_bytes;
  auto store = projections::OpenRocksViewStore(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  EXPECT_TRUE(CommitRow(**store, "a").ok());
  return std::move(*store);
}

TEST(IdleFlushTest, AViewStoreFlushesItsMemtableOnceCommitsStop) {
  testing::TempDir dir;
  auto store = StoreWithARow(dir.path(), 50ms, 0);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(CommitRow(*store, "b").ok());
  EXPECT_TRUE(TableFileAppears(dir.path()));
  auto row = store->Get("b");
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->value_or(""), "value of b");
}

TEST(IdleFlushTest, AViewStoreKeepsAMemtableBelowTheThreshold) {
  testing::TempDir dir;
  auto store =
      StoreWithARow(dir.path(), 50ms, projections::RocksViewStoreOptions().idle_flush_min_bytes);
  ASSERT_NE(store, nullptr);
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(HasTableFile(dir.path())) << "a flush per lull would litter small files";
}

TEST(IdleFlushTest, AViewStoreWithoutIdleFlushKeepsItsMemtable) {
  testing::TempDir dir;
  auto store = StoreWithARow(dir.path(), 0ms, 0);
  ASSERT_NE(store, nullptr);
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(HasTableFile(dir.path()));
}

TEST(IdleFlushTest, TheLocalLogFlushesItsMemtableOnceAppendsStop) {
  testing::TempDir dir;
  events::LocalEventLog::Options options;
  options.path = dir.path();
  options.partitions = 2;
  options.idle_flush_after = 50ms;
  options.idle_flush_min_bytes = 0;
  auto log = events::LocalEventLog::Open(options);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  const std::vector<std::string> events = {"first", "second"};
  auto offsets = (*log)->Append("org-1", events);
  ASSERT_TRUE(offsets.ok()) << offsets.status().ToString();
  EXPECT_TRUE(TableFileAppears(dir.path()));
  // The records read back as appended.
  const int32_t partition = (*log)->PartitionFor("org-1");
  auto reader = (*log)->OpenReader(partition, 0);
  ASSERT_TRUE(reader.ok());
  auto records = (*reader)->Next(10, 1000ms);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[1].value, "second");
}

}  // namespace
}  // namespace keytrail
