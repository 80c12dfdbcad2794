// KeyTable against a model (std::map by id, std::map by name): random inserts, erases,
// renames, claims and releases, checked in full as they go; and the edges one by one.
#include "engine/domain/key_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

namespace keytrail::domain {
namespace {

KeyId Id(uint64_t n) {
  KeyId id;
  for (int i = 0; i < 8; ++i) id.bytes[15 - i] = static_cast<uint8_t>(n >> (8 * i));
  return id;  // the first 8 bytes are zero: the table must not hash on them alone
}

std::string Numbered(int i) { return "renamed-key-" + std::to_string(i); }

KeyState Key(uint64_t n, uint32_t version = 1) {
  KeyState key;
  key.id = Id(n);
  key.version = version;
  key.expires_at = static_cast<Micros>(n) * 1000;
  return key;
}

TEST(KeyTableTest, FindsWhatItHoldsAndNothingElse) {
  KeyTable table;
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.Find(Id(1)), nullptr);
  KeyState& one = table.Insert(Key(1, 7), "deploy");
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.Find(Id(1)), &one);
  EXPECT_EQ(one.version, 7u);
  EXPECT_EQ(table.NameOf(one), "deploy");
  EXPECT_EQ(table.Find(Id(2)), nullptr);
  EXPECT_EQ(table.Named("deploy"), nullptr) << "not claimed yet";
  table.ClaimName(one);
  EXPECT_EQ(table.Named("deploy"), &one);
  EXPECT_FALSE(table.Erase(Id(2)));
  EXPECT_TRUE(table.Erase(Id(1)));
  EXPECT_EQ(table.Find(Id(1)), nullptr);
  EXPECT_EQ(table.Named("deploy"), nullptr) << "its name went with it";
  EXPECT_TRUE(table.empty());
}

TEST(KeyTableTest, ANameHasOneHolderAndPassesOn) {
  KeyTable table;
  KeyState& old_key = table.Insert(Key(1), "ci");
  table.ClaimName(old_key);
  KeyState& new_key = table.Insert(Key(2), "ci");
  EXPECT_EQ(table.Named("ci"), &old_key);
  table.ClaimName(new_key);
  EXPECT_EQ(table.Named("ci"), &new_key);
  table.ReleaseName(old_key);  // does not hold it: nothing happens
  EXPECT_EQ(table.Named("ci"), &new_key);
  table.ReleaseName(new_key);
  EXPECT_EQ(table.Named("ci"), nullptr);
  EXPECT_EQ(table.NameOf(old_key), "ci");
  EXPECT_EQ(table.NameOf(new_key), "ci");
}

TEST(KeyTableTest, RenameGivesUpTheOldNameAndNamesStayRightThroughCompaction) {
  KeyTable table;
  KeyState& key = table.Insert(Key(1), "first");
  table.ClaimName(key);
  table.Rename(key, "second");
  EXPECT_EQ(table.Named("first"), nullptr);
  EXPECT_EQ(table.Named("second"), nullptr) << "held once claimed";
  table.ClaimName(key);
  EXPECT_EQ(table.Named("second"), &key);
  // Enough renames to compact the arena many times over.
  KeyState& other = table.Insert(Key(2), "other");
  table.ClaimName(other);
  for (int i = 0; i < 10'000; ++i) {
    table.Rename(key, Numbered(i));
    table.ClaimName(key);
  }
  EXPECT_EQ(table.NameOf(key), Numbered(9'999));
  EXPECT_EQ(table.Named(Numbered(9'999)), &key);
  EXPECT_EQ(table.Named("other"), &other);
  EXPECT_EQ(table.NameOf(other), "other");
  EXPECT_LT(table.MemoryBytes(), 64u * 1024) << "the arena does not keep every old name";
}

TEST(KeyTableTest, AMovedFromTableIsEmptyAndUsable) {
  KeyTable table;
  table.ClaimName(table.Insert(Key(1), "one"));
  KeyTable moved = std::move(table);
  EXPECT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved.Named("one"), moved.Find(Id(1)));
  EXPECT_EQ(table.size(), 0u);  // the contract: a moved-from table is empty
  EXPECT_TRUE(table.begin() == table.end());
  EXPECT_EQ(table.Find(Id(1)), nullptr);
  table.ClaimName(table.Insert(Key(2), "two"));
  EXPECT_EQ(table.Named("two"), table.Find(Id(2)));
}

TEST(KeyTableTest, KeepsLongNamesWhole) {
  KeyTable table;
  const std::string longest(KeyTable::kMaxNameSize, 'n');
  KeyState& key = table.Insert(Key(1), longest);
  table.ClaimName(key);
  EXPECT_EQ(table.NameOf(key), longest);
  EXPECT_EQ(table.Named(longest), &key);
  KeyState& empty = table.Insert(Key(2), "");
  table.ClaimName(empty);
  EXPECT_EQ(table.Named(""), &empty);
}

TEST(KeyTableTest, RecordsDoNotMoveAsTheTableGrows) {
  KeyTable table;
  KeyState* first = &table.Insert(Key(0), "k0");
  for (uint64_t n = 1; n < 20'000; ++n) table.Insert(Key(n), "k" + std::to_string(n));
  EXPECT_EQ(table.Find(Id(0)), first);
  EXPECT_EQ(table.size(), 20'000u);
  size_t seen = 0;
  uint64_t sum = 0;
  for (const KeyState& key : table) {
    ++seen;
    sum += static_cast<uint64_t>(key.expires_at / 1000);
  }
  EXPECT_EQ(seen, 20'000u);
  EXPECT_EQ(sum, 19'999ull * 20'000 / 2);
  // ~64 B a record, ~8 B an index slot; far from a hash-map node per key.
  EXPECT_LT(table.MemoryBytes() / table.size(), 100u);
}

// Random operations against a model; every few steps the whole table is compared.
TEST(KeyTableTest, AgreesWithAModelUnderRandomOperations) {
  KeyTable table;
  std::map<uint64_t, std::pair<std::string, uint32_t>> keys;  // id -> name, version
  std::map<std::string, uint64_t> holders;                    // name -> id
  std::mt19937_64 rng(20261201);
  auto name_of = [&](uint64_t) { return "n" + std::to_string(rng() % 300); };
  auto check = [&] {
    ASSERT_EQ(table.size(), keys.size());
    for (const auto& [n, entry] : keys) {
      const KeyState* key = table.Find(Id(n));
      ASSERT_NE(key, nullptr) << n;
      ASSERT_EQ(key->version, entry.second);
      ASSERT_EQ(table.NameOf(*key), entry.first);
    }
    for (int i = 0; i < 300; ++i) {
      const std::string name = "n" + std::to_string(i);
      const KeyState* holder = table.Named(name);
      auto it = holders.find(name);
      if (it == holders.end()) {
        ASSERT_EQ(holder, nullptr) << name;
      } else {
        ASSERT_NE(holder, nullptr) << name;
        ASSERT_EQ(holder->id, Id(it->second)) << name;
      }
    }
    size_t iterated = 0;
    for (const KeyState& key : table) {
      ++iterated;
      ASSERT_TRUE(table.Find(key.id) == &key);
    }
    ASSERT_EQ(iterated, keys.size());
  };
  auto release = [&](uint64_t n) {
    auto it = holders.find(keys[n].first);
    if (it != holders.end() && it->second == n) holders.erase(it);
  };
  for (int step = 0; step < 60'000; ++step) {
    const uint64_t n = rng() % 2'000;
    const bool present = keys.contains(n);
    switch (rng() % 6) {
      case 0:
      case 1:
        if (!present) {
          const std::string name = name_of(n);
          const uint32_t version = static_cast<uint32_t>(rng());
          KeyState key = Key(n, version);
          table.Insert(key, name);
          keys[n] = {name, version};
        }
        break;
      case 2:
        EXPECT_EQ(table.Erase(Id(n)), present);
        if (present) {
          release(n);
          keys.erase(n);
        }
        break;
      case 3:
        if (present) {
          table.ClaimName(*table.Find(Id(n)));
          holders[keys[n].first] = n;
        }
        break;
      case 4:
        if (present) {
          table.ReleaseName(*table.Find(Id(n)));
          release(n);
        }
        break;
      case 5:
        if (present) {
          const std::string name = name_of(n);
          table.Rename(*table.Find(Id(n)), name);
          release(n);
          keys[n].first = name;
        }
        break;
    }
    if (step % 1'000 == 0) check();
    if (HasFatalFailure()) return;
  }
  check();
}

}  // namespace
}  // namespace keytrail::domain
