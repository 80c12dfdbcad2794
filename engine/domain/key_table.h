// KeyTable: an org's keys as its writer holds them, laid out for memory (one is held per
// live key; ~90 bytes each at 1M keys against ~185 in hash-map nodes):
//   - records of 64 bytes in chunks that never move, so a KeyState& lasts until its key
//     is erased (chunks grow from 16 records to 4096, so a small org stays small);
//   - an index by key id: open addressing with linear probing, 4-byte slots holding a
//     record's number, at most 3/4 full;
//   - every key's name in one arena (a record holds its offset and length; the arena is
//     compacted when half of it is names no key has any more), and an index by name,
//     built the same way, of the keys that hold their name (the org's live ones: two
//     keys may be called alike once one of them is retired).
// Records and index slots follow the peak number of keys (erased records are reused,
// not returned) until the table is empty again. Not thread-safe (one owner, the org's
// writer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/clock.h"
#include "keys/key_material.h"

namespace keytrail::domain {

enum class KeyStatus : uint8_t { kActive, kRevoked, kExpired };

// A key as the writer holds it; its name is in its KeyTable (KeyTable::NameOf). Laid
// out small: the group and the creator are indexes into the org's string tables.
struct KeyState {
  KeyId id;
  Micros expires_at = 0;     // 0 = never
  Micros idle_since = 0;     // its creation or, if later, its last use (KeysUsed)
  Micros warned_expiry = 0;  // the expires_at of its KeyExpiringSoon, if one was written
  uint32_t version = 0;      // aggregate version of the key's last event (SetKeyVersion)
  uint32_t group = 0;        // index into OrgState::key_groups (use OrgState::GroupOf)
  uint32_t creator = 0;      // index into OrgState::creators (use OrgState::CreatorOf)
  KeyStatus status = KeyStatus::kActive;
  bool scim = false;       // holds the "scim" permission
  bool suspended = false;  // KeySuspended, not resumed: live, but not usable

  // Active at `now`: not revoked, not expired by event, and not past its expiry (a
  // suspended key is active in this sense: it holds its name and can be managed).
  bool ActiveAt(Micros now) const {
    return status == KeyStatus::kActive && (expires_at == 0 || now < expires_at);
  }
  // Usable as a principal at `now`: active and not suspended.
  bool UsableAt(Micros now) const { return ActiveAt(now) && !suspended; }
};

static_assert(sizeof(KeyState) == 56, "KeyState grew: a key's record outgrows 64 bytes");

class KeyTable {
 public:
  KeyTable();
  ~KeyTable();
  KeyTable(KeyTable&&) noexcept;  // leaves the source an empty table
  KeyTable& operator=(KeyTable&&) noexcept;
  KeyTable(const KeyTable&) = delete;
  KeyTable& operator=(const KeyTable&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const KeyState* Find(const KeyId& id) const;
  KeyState* Find(const KeyId& id);
  bool contains(const KeyId& id) const { return Find(id) != nullptr; }

  static constexpr size_t kMaxNameSize = UINT16_MAX;

  // Adds `key` called `name`; it does not hold the name until ClaimName.
  // REQUIRES: no key has key.id; name.size() <= kMaxNameSize.
  KeyState& Insert(const KeyState& key, std::string_view name);
  // Erases the key `id` (its name goes with it). False if there is none.
  bool Erase(const KeyId& id);

  // `key`'s name. REQUIRES: `key` is a record of this table.
  std::string_view NameOf(const KeyState& key) const;
  // Renames `key`: it gives up the name it held, and does not hold the new one until
  // ClaimName. REQUIRES: name.size() <= kMaxNameSize.
  void Rename(const KeyState& key, std::string_view name);
  // Makes `key` the holder of its name (a key that held it gives it up).
  void ClaimName(const KeyState& key);
  // `key` gives up its name, if it holds it.
  void ReleaseName(const KeyState& key);
  // The key holding `name`, if any.
  const KeyState* Named(std::string_view name) const;

  // A key's record number: stable from Insert to Erase, then reused by a later Insert
  // (what the scheduler's timers hold instead of a 16-byte id). REQUIRES: `key` is a
  // record of this table.
  uint32_t RecordOf(const KeyState& key) const { return NumberOf(key); }
  // The key in record `record`, or nullptr if that record holds none.
  const KeyState* AtRecord(uint32_t record) const;

  // Bytes held: records, indexes, names.
  size_t MemoryBytes() const;

  // Every key, in no particular order. Inserting or erasing invalidates iterators.
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = KeyState;
    using difference_type = std::ptrdiff_t;
    using pointer = const KeyState*;
    using reference = const KeyState&;

    const_iterator() = default;
    reference operator*() const;
    pointer operator->() const { return &**this; }
    const_iterator& operator++();
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.record_ == b.record_;
    }

   private:
    friend class KeyTable;
    const_iterator(const KeyTable* table, uint32_t record);
    void SkipFree();
    const KeyTable* table_ = nullptr;
    uint32_t record_ = 0;
  };
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, records_); }

 private:
  struct Record {
    KeyState key;          // first: a KeyState of the table is its record's address
    uint32_t name_at = 0;  // in names_
    uint16_t name_size = 0;
    bool in_use = false;
    bool named = false;  // holds its name (in names_index_)
  };
  static_assert(sizeof(Record) == 64);
  static_assert(std::is_standard_layout_v<Record>, "a KeyState& is cast to its Record&");
  // An open-addressing table of record numbers + 1 (0 = empty slot).
  using Slots = std::vector<uint32_t>;

  Record& At(uint32_t record);
  const Record& At(uint32_t record) const;
  uint32_t NumberOf(const KeyState& key) const;
  uint64_t IdHashOf(uint32_t record) const;
  uint64_t NameHashOf(uint32_t record) const;
  // The slot of `slots` holding a record that `matches`, or SIZE_MAX.
  template <typename Matches>
  size_t Probe(const Slots& slots, uint64_t hash, Matches matches) const;
  // Adds `record` to `slots` (growing it to stay at most 3/4 full), whose records hash
  // by `hash_of`.
  template <typename HashOf>
  void Add(Slots& slots, size_t& used, uint32_t record, HashOf hash_of);
  // Empties `slot`, moving later entries back so that every probe still finds them.
  template <typename HashOf>
  void RemoveSlot(Slots& slots, size_t& used, size_t slot, HashOf hash_of);
  size_t NameSlot(uint32_t record) const;  // its slot in names_index_, or SIZE_MAX
  void StoreName(Record& record, std::string_view name);
  void CompactNames();

  std::vector<std::unique_ptr<Record[]>> chunks_;
  uint32_t records_ = 0;        // records ever used (in use or free)
  std::vector<uint32_t> free_;  // numbers of erased records, reused first
  size_t size_ = 0;
  Slots ids_;
  size_t ids_used_ = 0;
  Slots names_index_;
  size_t names_used_ = 0;
  std::string names_;         // the arena
  size_t names_garbage_ = 0;  // bytes of it no record refers to
};

}  // namespace keytrail::domain
