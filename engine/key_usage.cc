#include "engine/key_usage.h"

namespace keytrail {

void KeyUsage::Note(std::string_view org, const KeyId& id, Micros now) {
  const Micros minute = now - now % kResolution;
  Shard& shard = shards_[KeyIdHash{}(id) % kShards];
  std::lock_guard lock(shard.mu);
  Entry& entry = shard.keys[id];
  if (entry.minute >= minute) return;  // noted this minute already (by another thread)
  if (entry.org.empty()) entry.org = std::string(org);
  entry.minute = minute;
  entry.pending = true;
}

std::map<std::string, KeyUsage::Uses> KeyUsage::Take(Micros now) {
  std::map<std::string, Uses> out;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (auto it = shard.keys.begin(); it != shard.keys.end();) {
      Entry& entry = it->second;
      if (entry.pending) {
        out[entry.org].emplace_back(it->first, entry.minute);
        entry.pending = false;
      } else if (now - entry.minute > 60 * kResolution) {
        it = shard.keys.erase(it);
        continue;
      }
      ++it;
    }
  }
  return out;
}

}  // namespace keytrail
