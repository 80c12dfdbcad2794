// The key lifecycle's benchmarks:
//   verify  in-process verify (TokenCodec::Parse incl. SHA-256 + VerifyIndex lookup) over
//           N keys: valid, unknown (well-formed, no such key) and malformed tokens, on 1
//           and 2 threads. Budget (the design's): <= 250 ns per verify. Beside it, the
//           machine's floor for a lookup that misses every cache: one random read from
//           DRAM, measured over a buffer the size of the index.
//   create  durable creates through the Engine on the local log: 1 vs 16 clients.
//   memory  resident memory per key after creating N keys through the Engine (writer
//           state + views' caches + verification index), right after the creates and
//           settled 15 s later. Budget: <= 300 B per key.
//   memory-expiring  the same with keys that expire (in 90 days): each also has a
//           scheduler timer.
#include <dlfcn.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <thread>

#include "engine/engine.h"
#include "engine/key_usage.h"
#include "engine/verify_index.h"
#include "events/local_event_log.h"
#include "projections/view_store.h"
#include "tests/support/temp_dir.h"
#include "tools/bench/bench_util.h"
#include "tools/bench/engine_fixture.h"
#include "tools/bench/sections.h"

namespace keytrail::bench {
namespace {

constexpr Micros kNow = 1'767'225'600'000'000;

size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// The latency of one random read from DRAM on this machine: a pointer chase (each read's
// address is the previous read's value, so no two overlap) through `bytes` of memory, one
// pointer per cache line, in one random cycle. Allocated as the index is (same allocator,
// same page size), so a read pays the page walks a verify pays. At 1M keys the index is
// ~90 MB, far beyond the caches: a verify of a random key cannot cost less than this.
double DramReadNanos(size_t bytes) {
  struct alignas(64) Line {
    const Line* next;
  };
  const size_t n = std::max<size_t>(bytes / sizeof(Line), 2);
  auto lines = std::make_unique<Line[]>(n);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::mt19937_64 random(42);
  std::shuffle(order.begin(), order.end(), random);
  // Linked in the shuffled order: one cycle through every line.
  for (size_t i = 0; i < n; ++i) lines[order[i]].next = &lines[order[(i + 1) % n]];
  const Line* at = &lines[order[0]];
  for (size_t i = 0; i < n; ++i) at = at->next;  // pages faulted in, the walk warm
  constexpr size_t kReads = 2'000'000;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kReads; ++i) {
    at = at->next;
    asm volatile("" : "+r"(at));  // each read happens, in order, inside the timed loop
  }
  return SecondsSince(start) * 1e9 / kReads;
}

// Runs `verify(i)` for `per_thread` iterations on each of `threads` threads; ns/verify.
// Tokens are taken in order, as a server finds each one hot in its request buffer; the
// keys they name are random, so every index lookup is a cold one.
template <typename Fn>
double NanosPerCall(int threads, size_t per_thread, Fn verify) {
  std::atomic<size_t> sink{0};
  std::vector<std::thread> workers;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      size_t valid = 0;
      for (size_t i = 0; i < per_thread; ++i) valid += verify(i + t * per_thread) ? 1 : 0;
      sink += valid;
    });
  }
  for (auto& w : workers) w.join();
  // Wall time per call per thread: what one caller waits.
  return SecondsSince(start) * 1e9 / static_cast<double>(per_thread);
}

int RunVerify(const Args& args) {
  const size_t n = static_cast<size_t>(args.keys);
  TokenCodec codec;
  VerifyIndex index;
  std::vector<std::string> valid_tokens;
  valid_tokens.reserve(n);
  std::vector<model::KeyRecord> batch;
  for (size_t i = 0; i < n; ++i) {
    // Ids as the engine makes them (NewKeyId): ~1,000 keys per millisecond of creation
    // time share their first 6 bytes.
    IssuedToken token = codec.Issue(SystemRandom(), NewKeyId(SystemRandom(), kNow + i));
    model::KeyRecord record;
    record.org = "org-" + std::to_string(i % 100);
    record.key_id = token.key_id;
    record.group_id = "ci";
    record.secret_hash = token.hash;
    record.expires_at_us = i % 2 ? 0 : kNow + 3600'000'000;
    batch.push_back(std::move(record));
    valid_tokens.emplace_back(token.token.reveal());
    if (batch.size() == 10000) {
      index.Upsert(batch);
      batch.clear();
    }
  }
  index.Upsert(batch);
  std::vector<std::string> unknown_tokens, malformed_tokens;
  for (size_t i = 0; i < 4096; ++i) {
    unknown_tokens.emplace_back(
        codec.Issue(SystemRandom(), NewKeyId(SystemRandom(), kNow + i)).token.reveal());
    std::string bad = valid_tokens[i];
    bad[20] = bad[20] == 'A' ? 'B' : 'A';
    malformed_tokens.push_back(std::move(bad));
  }
  const size_t calls = 2'000'000;
  for (int threads : {1, 2}) {
    const std::string suffix = "_" + std::to_string(threads) + "_thread";
    Report("verify", "valid_ns_per_verify" + suffix,
           NanosPerCall(
               threads, calls,
               [&](size_t i) { return index.Verify(codec, valid_tokens[i % n], kNow).valid; }),
           "ns");
    // What Engine::Verify adds for a valid key: noting its use (KeyUsage). "first": each
    // key's first use in its minute (a map insert); "again": used before in the minute
    // (the steady state of a key verified more than once a minute: one filter load).
    // A minute of its own (the passes above marked kNow's), so "first" is a first use.
    KeyUsage usage;
    const Micros minute = kNow + (threads + 1) * 60'000'000LL;
    auto noted = [&](size_t i) {
      const VerifyResult r = index.Verify(codec, valid_tokens[i % n], minute);
      if (r.first_use_in_minute) usage.Note(r.org, r.key_id, minute);
      return r.valid;
    };
    Report("verify", "valid_noted_first_ns_per_verify" + suffix,
           NanosPerCall(threads, std::min(calls, n), noted), "ns");
    Report("verify", "valid_noted_again_ns_per_verify" + suffix,
           NanosPerCall(threads, calls, noted), "ns");
    Report("verify", "unknown_ns_per_verify" + suffix,
           NanosPerCall(
               threads, calls,
               [&](size_t i) { return index.Verify(codec, unknown_tokens[i % 4096], kNow).valid; }),
           "ns");
    Report("verify", "malformed_ns_per_verify" + suffix,
           NanosPerCall(threads, calls,
                        [&](size_t i) {
                          return index.Verify(codec, malformed_tokens[i % 4096], kNow).valid;
                        }),
           "ns");
  }
  Report("verify", "keys", static_cast<double>(index.size()), "keys");
  Report("verify", "index_bytes", static_cast<double>(index.MemoryBytes()), "bytes");
  Report("verify", "dram_random_read_ns", DramReadNanos(index.MemoryBytes()), "ns");
  return 0;
}

// Creates keys from `clients` threads for `seconds` (or until `limit` keys); creates/s.
// Keys never expire, or expire at `expires` (an explicit time).
double CreateRate(Engine& engine, int clients, double seconds, size_t limit, int round,
                  domain::Expiration expires = domain::Expiration::Never()) {
  std::atomic<bool> stop{false};
  std::atomic<size_t> done{0};
  std::vector<std::thread> workers;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < clients; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        if (done.load(std::memory_order_relaxed) >= limit) break;
        auto issued = engine.CreateKey(
            {.org = "org-0", .actor_id = "bench", .authorize = false},
            {.name = fmt::format("k{}-{}-{}", round, t, i), .group = "ci", .expires = expires});
        if (!issued.ok() || issued->outcome.kind != CommandOutcome::Kind::kApplied) {
          fmt::print(stderr, "create failed\n");
          std::exit(1);
        }
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  const auto deadline = start + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline && done.load() < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  for (auto& w : workers) w.join();
  return static_cast<double>(done.load()) / SecondsSince(start);
}

int RunCreate(const Args& args) {
  auto world = OpenEngineWorld(SystemClock::Instance(), /*sync=*/true, 1);
  if (!world) return 1;
  const double one = CreateRate(world->engine(), 1, args.seconds, SIZE_MAX, 1);
  const double sixteen = CreateRate(world->engine(), 16, args.seconds, SIZE_MAX, 16);
  Report("create", "durable_creates_per_s_1_client", one, "creates/s");
  Report("create", "durable_creates_per_s_16_clients", sixteen, "creates/s");
  Report("create", "ratio_16_vs_1", sixteen / one, "x");
  return 0;
}

// `section` is "memory" (keys that never expire) or "memory-expiring" (keys that expire
// in 90 days), and names the metrics ("memory", "memory_expiring").
int RunMemory(const Args& args, const std::string& section) {
  const bool expiring = section == "memory-expiring";
  const std::string metrics = expiring ? "memory_expiring" : "memory";
  // Unsynced: this measures memory, not the disk.
  auto world = OpenEngineWorld(SystemClock::Instance(), /*sync=*/false, 1);
  if (!world) return 1;
  const size_t before = ResidentBytes();
  const auto expires =
      expiring
          ? domain::Expiration::At(SystemClock::Instance().NowMicros() + 90 * domain::kMicrosPerDay)
          : domain::Expiration::Never();
  CreateRate(world->engine(), 16, 1e9, static_cast<size_t>(args.keys), 0, expires);
  const size_t after = ResidentBytes();
  // And once the burst has settled: the allocator returns the pages the creates freed
  // (jemalloc's decay, 10 s) and RocksDB's flushes finish, as in a server that holds these
  // keys and goes on.
  std::this_thread::sleep_for(std::chrono::seconds(15));
  const size_t settled = ResidentBytes();
  // KEYTRAIL_BENCH_MALLOC_STATS=1: what is live at this point, by size class (jemalloc's
  // statistics, on stderr; nothing under another allocator).
  if (std::getenv("KEYTRAIL_BENCH_MALLOC_STATS") != nullptr) {
    using Print = void (*)(void (*)(void*, const char*), void*, const char*);
    if (auto print = reinterpret_cast<Print>(dlsym(RTLD_DEFAULT, "malloc_stats_print"))) {
      print(nullptr, nullptr, "axe");  // merged over arenas; no mutex or extent tables
    }
  }
  const double keys = static_cast<double>(world->engine().index().size());
  Report(metrics, "keys", keys, "keys");
  Report(metrics, "resident_bytes_per_key", static_cast<double>(after - before) / keys, "B");
  Report(metrics, "resident_bytes_per_key_settled", static_cast<double>(settled - before) / keys,
         "B");
  Report(metrics, "verify_index_bytes_per_key",
         static_cast<double>(world->engine().index().MemoryBytes()) / keys, "B");
  return 0;
}

}  // namespace

int RunKeys(const Args& args, const std::string& section) {
  if (section == "verify") return RunVerify(args);
  if (section == "create") return RunCreate(args);
  return RunMemory(args, section);
}

}  // namespace keytrail::bench
