// KeyUsage: which keys verification found valid, and when (to the minute), held in
// memory until the engine writes it down (Engine::FlushKeyUse: one KeysUsed event per org,
// never one write per verify).
//
// Note takes one of kShards mutexes for a map update: the engine calls it only for a
// key's first valid verify in a minute (VerifyResult::first_use_in_minute, which the
// verify index answers from the key's own entry), so the hot path never gets here.
// Take hands over what changed since the previous Take. A key not used for an hour is
// forgotten (noted again, if used again). Thread-safe.
#pragma once

#include <array>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "keys/key_material.h"

namespace keytrail {

class KeyUsage {
 public:
  static constexpr Micros kResolution = 60LL * 1'000'000;  // a minute
  // `id` of `org` verified at `now`.
  void Note(std::string_view org, const KeyId& id, Micros now);

  // The uses noted since the last Take (the latest minute of each key), by org.
  using Uses = std::vector<std::pair<KeyId, Micros>>;
  std::map<std::string, Uses> Take(Micros now);

 private:
  static constexpr size_t kShards = 16;
  struct Entry {
    std::string org;
    Micros minute = 0;     // the latest minute the key was used in
    bool pending = false;  // not taken yet
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<KeyId, Entry, KeyIdHash> keys;  // guarded by mu
  };
  std::array<Shard, kShards> shards_;
};

}  // namespace keytrail
