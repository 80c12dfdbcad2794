#include "engine/domain/key_table.h"

#include <bit>
#include <cassert>
#include <cstring>
#include <functional>
#include <utility>

namespace keytrail::domain {
namespace {

// Chunk sizes: 16, 16, 32, ..., 2048 records (4096 in all), then 4096 each.
constexpr uint32_t kFirstChunk = 16;
constexpr uint32_t kChunk = 4096;
constexpr int kGrowingChunks = 9;  // 16 + 16 + 32 + ... + 2048 = kChunk

uint32_t ChunkOf(uint32_t record) {
  if (record >= kChunk) return kGrowingChunks + (record - kChunk) / kChunk;
  return static_cast<uint32_t>(std::bit_width(record / kFirstChunk));
}

uint32_t ChunkStart(uint32_t chunk) {
  if (chunk >= kGrowingChunks) return kChunk * (chunk - kGrowingChunks + 1);
  return chunk == 0 ? 0 : kFirstChunk << (chunk - 1);
}

uint32_t ChunkSize(uint32_t chunk) {
  if (chunk >= kGrowingChunks) return kChunk;
  return chunk == 0 ? kFirstChunk : kFirstChunk << (chunk - 1);
}

// Spreads a hash over all 64 bits (ids made in tests differ in a few bytes only).
uint64_t Mix(uint64_t h) { return h * 0x9E3779B97F4A7C15ULL; }

uint64_t HashId(const KeyId& id) {
  uint64_t a, b;
  std::memcpy(&a, id.bytes.data(), 8);
  std::memcpy(&b, id.bytes.data() + 8, 8);
  return Mix(a ^ (b * 0xC2B2AE3D27D4EB4FULL));
}

uint64_t HashName(std::string_view name) { return Mix(std::hash<std::string_view>{}(name)); }

// The home slot of `hash` in a table of `size` slots (a power of two): its top bits.
size_t Home(uint64_t hash, size_t size) {
  return static_cast<size_t>(hash >> (64 - std::countr_zero(size)));
}

constexpr size_t kNone = SIZE_MAX;

}  // namespace

KeyTable::KeyTable() = default;
KeyTable::~KeyTable() = default;
KeyTable::KeyTable(KeyTable&& other) noexcept { *this = std::move(other); }

KeyTable& KeyTable::operator=(KeyTable&& other) noexcept {
  if (this == &other) return *this;
  chunks_ = std::exchange(other.chunks_, {});
  records_ = std::exchange(other.records_, 0);
  free_ = std::exchange(other.free_, {});
  size_ = std::exchange(other.size_, 0);
  ids_ = std::exchange(other.ids_, {});
  ids_used_ = std::exchange(other.ids_used_, 0);
  names_index_ = std::exchange(other.names_index_, {});
  names_used_ = std::exchange(other.names_used_, 0);
  names_ = std::exchange(other.names_, {});
  names_garbage_ = std::exchange(other.names_garbage_, 0);
  return *this;  // `other` is an empty table
}

KeyTable::Record& KeyTable::At(uint32_t record) {
  const uint32_t chunk = ChunkOf(record);
  return chunks_[chunk][record - ChunkStart(chunk)];
}

const KeyTable::Record& KeyTable::At(uint32_t record) const {
  const uint32_t chunk = ChunkOf(record);
  return chunks_[chunk][record - ChunkStart(chunk)];
}

const KeyState* KeyTable::AtRecord(uint32_t record) const {
  if (record >= records_) return nullptr;
  const Record& r = At(record);
  return r.in_use ? &r.key : nullptr;
}

uint32_t KeyTable::NumberOf(const KeyState& key) const {
  // Through the id index: the record whose KeyState is `key`.
  const size_t slot =
      Probe(ids_, HashId(key.id), [&](uint32_t record) { return &At(record).key == &key; });
  assert(slot != kNone && "a KeyState of another table");
  return ids_[slot] - 1;
}

uint64_t KeyTable::IdHashOf(uint32_t record) const { return HashId(At(record).key.id); }

uint64_t KeyTable::NameHashOf(uint32_t record) const { return HashName(NameOf(At(record).key)); }

template <typename Matches>
size_t KeyTable::Probe(const Slots& slots, uint64_t hash, Matches matches) const {
  if (slots.empty()) return kNone;
  const size_t mask = slots.size() - 1;
  for (size_t slot = Home(hash, slots.size());; slot = (slot + 1) & mask) {
    if (slots[slot] == 0) return kNone;
    if (matches(slots[slot] - 1)) return slot;
  }
}

template <typename HashOf>
void KeyTable::Add(Slots& slots, size_t& used, uint32_t record, HashOf hash_of) {
  if ((used + 1) * 4 > slots.size() * 3) {  // grow: at most 3/4 full
    Slots old = std::move(slots);
    slots.assign(old.empty() ? 8 : old.size() * 2, 0);
    used = 0;
    for (uint32_t entry : old) {
      if (entry != 0) Add(slots, used, entry - 1, hash_of);
    }
  }
  const size_t mask = slots.size() - 1;
  size_t slot = Home(hash_of(record), slots.size());
  while (slots[slot] != 0) slot = (slot + 1) & mask;
  slots[slot] = record + 1;
  ++used;
}

template <typename HashOf>
void KeyTable::RemoveSlot(Slots& slots, size_t& used, size_t slot, HashOf hash_of) {
  const size_t mask = slots.size() - 1;
  size_t hole = slot;
  for (size_t next = (hole + 1) & mask; slots[next] != 0; next = (next + 1) & mask) {
    // The entry at `next` may move back into the hole unless its home lies cyclically
    // in (hole, next]: then a probe from its home would not pass the hole.
    const size_t home = Home(hash_of(slots[next] - 1), slots.size());
    const bool stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
    if (stays) continue;
    slots[hole] = slots[next];
    hole = next;
  }
  slots[hole] = 0;
  --used;
}

const KeyState* KeyTable::Find(const KeyId& id) const {
  const size_t slot =
      Probe(ids_, HashId(id), [&](uint32_t record) { return At(record).key.id == id; });
  return slot == kNone ? nullptr : &At(ids_[slot] - 1).key;
}

KeyState* KeyTable::Find(const KeyId& id) {
  return const_cast<KeyState*>(std::as_const(*this).Find(id));
}

KeyState& KeyTable::Insert(const KeyState& key, std::string_view name) {
  assert(!contains(key.id));
  uint32_t number;
  if (!free_.empty()) {
    number = free_.back();
    free_.pop_back();
  } else {
    number = records_++;
    const uint32_t chunk = ChunkOf(number);
    if (chunk == chunks_.size()) chunks_.push_back(std::make_unique<Record[]>(ChunkSize(chunk)));
  }
  Record& record = At(number);
  record = Record{};
  record.key = key;
  record.in_use = true;
  StoreName(record, name);
  Add(ids_, ids_used_, number, [this](uint32_t r) { return IdHashOf(r); });
  ++size_;
  return record.key;
}

bool KeyTable::Erase(const KeyId& id) {
  const size_t slot =
      Probe(ids_, HashId(id), [&](uint32_t record) { return At(record).key.id == id; });
  if (slot == kNone) return false;
  const uint32_t number = ids_[slot] - 1;
  Record& record = At(number);
  ReleaseName(record.key);
  RemoveSlot(ids_, ids_used_, slot, [this](uint32_t r) { return IdHashOf(r); });
  names_garbage_ += record.name_size;
  record = Record{};
  free_.push_back(number);
  --size_;
  if (size_ == 0) {  // start over: nothing to keep
    *this = KeyTable();
  } else {
    CompactNames();
  }
  return true;
}

std::string_view KeyTable::NameOf(const KeyState& key) const {
  const Record& record = reinterpret_cast<const Record&>(key);
  return std::string_view(names_).substr(record.name_at, record.name_size);
}

void KeyTable::StoreName(Record& record, std::string_view name) {
  assert(name.size() <= kMaxNameSize);
  record.name_at = static_cast<uint32_t>(names_.size());
  record.name_size = static_cast<uint16_t>(name.size());
  names_.append(name);
}

void KeyTable::Rename(const KeyState& key, std::string_view name) {
  ReleaseName(key);
  Record& record = const_cast<Record&>(reinterpret_cast<const Record&>(key));
  names_garbage_ += record.name_size;
  StoreName(record, name);
  CompactNames();
}

size_t KeyTable::NameSlot(uint32_t number) const {
  return Probe(names_index_, NameHashOf(number), [&](uint32_t record) { return record == number; });
}

void KeyTable::ClaimName(const KeyState& key) {
  Record& record = const_cast<Record&>(reinterpret_cast<const Record&>(key));
  if (record.named) return;
  const std::string_view name = NameOf(key);
  const size_t slot = Probe(names_index_, HashName(name),
                            [&](uint32_t other) { return NameOf(At(other).key) == name; });
  if (slot != kNone) {  // another key holds it: hand it over in place
    At(names_index_[slot] - 1).named = false;
    names_index_[slot] = NumberOf(key) + 1;
  } else {
    Add(names_index_, names_used_, NumberOf(key), [this](uint32_t r) { return NameHashOf(r); });
  }
  record.named = true;
}

void KeyTable::ReleaseName(const KeyState& key) {
  Record& record = const_cast<Record&>(reinterpret_cast<const Record&>(key));
  if (!record.named) return;
  const size_t slot = NameSlot(NumberOf(key));
  assert(slot != kNone);
  RemoveSlot(names_index_, names_used_, slot, [this](uint32_t r) { return NameHashOf(r); });
  record.named = false;
}

const KeyState* KeyTable::Named(std::string_view name) const {
  const size_t slot = Probe(names_index_, HashName(name),
                            [&](uint32_t record) { return NameOf(At(record).key) == name; });
  return slot == kNone ? nullptr : &At(names_index_[slot] - 1).key;
}

void KeyTable::CompactNames() {
  // When half the arena is names no key has: copy the live ones to a new arena. Each
  // byte copied was preceded by one made garbage, so compaction costs O(1) amortized.
  // The scan visits every record ever used, live or free: it waits for as many garbage
  // bytes as records, so that an org that shrank does not scan its old size often.
  if (names_garbage_ < 4096 || names_garbage_ * 2 < names_.size() || names_garbage_ < records_) {
    return;
  }
  std::string compact;
  compact.reserve(names_.size() - names_garbage_);
  for (uint32_t number = 0; number < records_; ++number) {
    Record& record = At(number);
    if (!record.in_use) continue;
    const uint32_t at = static_cast<uint32_t>(compact.size());
    compact.append(names_, record.name_at, record.name_size);
    record.name_at = at;
  }
  names_ = std::move(compact);
  names_garbage_ = 0;
}

size_t KeyTable::MemoryBytes() const {
  size_t chunk_bytes = 0;
  for (uint32_t c = 0; c < chunks_.size(); ++c) chunk_bytes += ChunkSize(c) * sizeof(Record);
  return chunk_bytes + free_.capacity() * sizeof(uint32_t) +
         (ids_.capacity() + names_index_.capacity()) * sizeof(uint32_t) + names_.capacity();
}

KeyTable::const_iterator::const_iterator(const KeyTable* table, uint32_t record)
    : table_(table), record_(record) {
  SkipFree();
}

void KeyTable::const_iterator::SkipFree() {
  while (record_ < table_->records_ && !table_->At(record_).in_use) ++record_;
}

const KeyState& KeyTable::const_iterator::operator*() const { return table_->At(record_).key; }

KeyTable::const_iterator& KeyTable::const_iterator::operator++() {
  ++record_;
  SkipFree();
  return *this;
}

}  // namespace keytrail::domain
