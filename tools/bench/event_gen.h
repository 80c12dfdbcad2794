// EventGenerator: a deterministic stream of realistic keytrail events for benchmarks.
// A few orgs, each created with three groups, then a growing population of keys that
// members and admin keys create, rotate, move, revoke, and the scheduler expires, with
// events a few seconds apart on average (10M events span about a year). Every event is
// one the key view and the audit trail accept, in an order the domain could write.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "base/clock.h"
#include "keys/key_material.h"

namespace keytrail::bench {

class EventGenerator {
 public:
  struct Options {
    int orgs = 8;
    int members_per_org = 16;                 // actors "m<org>-<n>" (kind member)
    int admin_keys_per_org = 4;               // the org's first keys also act (kind key)
    Micros start_us = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z
    Micros mean_gap_us = 3'000'000;
    uint64_t seed = 1;
  };

  explicit EventGenerator(Options options);
  // Not copyable: the random source keeps a reference to the generator's engine.
  EventGenerator(const EventGenerator&) = delete;
  EventGenerator& operator=(const EventGenerator&) = delete;

  // The next event, encoded; its org in *org.
  std::string Next(std::string* org);

  const std::vector<std::string>& orgs() const { return org_ids_; }
  // Time of the first and latest event generated.
  Micros first_us() const { return options_.start_us; }
  Micros now_us() const { return now_us_; }

  // For queries: a random key / actor of `org`, and every action the stream produces.
  const std::string& RandomKey(const std::string& org, std::mt19937_64& rng) const;
  std::string RandomActor(const std::string& org, std::mt19937_64& rng) const;
  static const std::vector<std::string>& Actions();

 private:
  struct Key {
    std::string id;
    std::string group;
    uint64_t version = 0;
    Micros expires_at_us = 0;
    bool live = true;
  };
  struct Org {
    std::string id;
    int setup_step = 0;  // org and groups come first
    std::vector<Key> keys;
  };

  std::string Setup(Org& org);
  std::string KeyEvent(Org& org);

  // The generator's random numbers as keys/key_material.h's Random, for NewKeyId.
  class GeneratorRandom final : public Random {
   public:
    explicit GeneratorRandom(std::mt19937_64& rng) : rng_(rng) {}
    void Fill(std::span<uint8_t> out) override {
      for (uint8_t& b : out) b = static_cast<uint8_t>(rng_());
    }

   private:
    std::mt19937_64& rng_;
  };

  Options options_;
  std::mt19937_64 rng_;
  GeneratorRandom random_{rng_};
  Micros now_us_;
  uint64_t seq_ = 0;
  std::vector<Org> org_state_;
  std::vector<std::string> org_ids_;
};

}  // namespace keytrail::bench
