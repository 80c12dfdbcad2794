// Engine: keytrail's core service in one object. It owns one PartitionWriter per log
// partition (each with its own projector over the shared views), the in-memory
// verification index, and the token codec; callers bring the log, the view store and
// the clock.
//
// Thread-safe: any thread may call anything. Commands are answered only once durable
// and applied (see writer.h); Verify never touches disk and takes no lock that writers
// hold.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "engine/domain/authorize.h"
#include "engine/domain/decide.h"
#include "engine/key_usage.h"
#include "engine/queries.h"
#include "engine/verify_index.h"
#include "engine/writer.h"
#include "events/event_log.h"
#include "keys/key_material.h"

namespace keytrail {

struct CreateKeyRequest {
  std::string name;
  std::string group;
  domain::Expiration expires = domain::Expiration::Never();
  std::vector<std::string> permissions;
};

// The answer to a create or rotate. `token` is set only when the command was applied
// now: it is shown once and never stored. A replayed command (same command id) has no
// token: the secret was already shown.
struct IssuedKey {
  CommandOutcome outcome;
  std::optional<Secret> token;
  std::string key_id;  // empty if rejected
  std::string hint;
};

// An Authorize answer together with the group directory it points into (the group and
// rule of `decision` stay valid as long as `directory` is held).
struct Authorization {
  std::shared_ptr<const domain::GroupDirectory> directory;
  domain::AccessDecision decision;
};

class Engine {
 public:
  struct Options {
    std::string token_prefix = std::string(kDefaultTokenPrefix);
    domain::DomainOptions domain;
    Random* random = nullptr;  // nullptr = SystemRandom()
    // Commands waiting per partition before more are refused "busy" (kUnavailable).
    size_t max_queued_commands = 16384;
    // How long command ids (Idempotency-Keys) are remembered; 0 = forever.
    Micros idempotency_window = 24LL * 3600 * 1'000'000;
    // Several nodes on one log (Kafka): every writer follows the log and writes only the
    // partitions this node claims (Claim). Off: this node writes every partition.
    bool follow_log = false;
    std::string node_id;
    std::string advertise_url;  // where other nodes forward commands; SetAdvertiseUrl
    // How often the keys verification found valid are written down (KeysUsed, the
    // keys' last_used_at); 0 = only when FlushKeyUse is called.
    Micros key_use_flush = 10LL * 1'000'000;
    // How long a revoked or expired key stays in memory (the writers' state, the verify
    // index) after its KeyRevoked / KeyExpired; then the key view and the log alone keep
    // it: verify answers it kUnknown instead of kRevoked / kExpired, and a command on it
    // reads it back from the key view. 0 = forever.
    Micros retired_key_window = 24LL * 3600 * 1'000'000;
    // How often the verify index is swept for keys past that window (the writers sweep
    // their state once a minute on their own); 0 = only when ForgetRetiredKeys is called.
    Micros retired_key_sweep = 60LL * 1'000'000;
  };

  // Who writes the partition of an org, as this node knows it.
  struct Writer {
    int32_t partition = 0;
    bool self = false;             // this node writes it now
    events::PartitionClaim claim;  // the current claim (epoch 0, no node: none yet)
  };

  // Rebuilds the verification index from the views, then starts a writer per
  // partition (each folds its partition of the log and catches the views up).
  // Borrows log, views and clock; they must outlive the engine.
  static Result<std::unique_ptr<Engine>> Start(events::EventLog& log, projections::ViewStore& views,
                                               const Clock& clock, Options options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Commands come in two forms. The asynchronous one returns at once and calls `done`
  // exactly once with the answer, on the partition's writer thread (or on the calling
  // thread when the command is refused before it is queued, e.g. kUnavailable "busy");
  // `done` must not block, as the next batch of the partition waits for it. The
  // synchronous one waits for that answer.
  using IssuedCallback = std::function<void(Result<IssuedKey>)>;

  // Runs any command through the writer of context.org's partition.
  void Execute(const domain::CommandContext& context, domain::Command command,
               CommandCallback done);
  Result<CommandOutcome> Execute(const domain::CommandContext& context, domain::Command command);

  // Mints a token and creates a key with it; created_by = the acting principal, or the
  // member it acts on behalf of.
  void CreateKey(const domain::CommandContext& context, CreateKeyRequest request,
                 IssuedCallback done);
  Result<IssuedKey> CreateKey(const domain::CommandContext& context, CreateKeyRequest request);
  // Mints a new secret for the key; the previous one stays valid for `grace`. With
  // `renew`, the key gets that expiry in the same decision.
  void RotateKey(const domain::CommandContext& context, const KeyId& key_id, Micros grace,
                 std::optional<domain::Expiration> renew, IssuedCallback done);
  void RotateKey(const domain::CommandContext& context, const KeyId& key_id, Micros grace,
                 IssuedCallback done) {
    RotateKey(context, key_id, grace, std::nullopt, std::move(done));
  }
  Result<IssuedKey> RotateKey(const domain::CommandContext& context, const KeyId& key_id,
                              Micros grace);

  // The groups and members of `org` as of the last acknowledged command that changed
  // them (published by its writer before answering). An org that does not exist has an
  // empty directory. Never null.
  std::shared_ptr<const domain::GroupDirectory> Groups(std::string_view org) const;
  // domain::Authorize against Groups(org). The principal's views must outlive the call.
  Authorization Authorize(std::string_view org, const domain::Principal& principal,
                          domain::Action action, const domain::Resource& resource) const;

  // Verifies a presented token at the clock's now / at `now`. A valid key is noted as
  // used (in memory; FlushKeyUse writes it down).
  VerifyResult Verify(std::string_view token) const;
  VerifyResult VerifyAt(std::string_view token, Micros now) const;
  // Verify, without noting a use: which key a token belongs to (leak reports). The
  // index still marks a valid key's minute (so a verify in that minute is not noted):
  // only for keys about to be revoked.
  VerifyResult Identify(std::string_view token) const;

  // Writes down which keys were used since the last flush: one KeysUsed per org, through
  // the org's writer where this node writes it, and appended straight to the log where
  // another node does (the one event any node may write). Returns once they are durable.
  // Runs every Options::key_use_flush on a thread of its own.
  void FlushKeyUse();

  // Removes from the verify index the keys retired longer than the retired-key window
  // ago (the writers forget them from their state on their own). Runs every
  // Options::retired_key_sweep on the engine's housekeeping thread; returns how many were
  // removed.
  size_t ForgetRetiredKeys();

  // Whether other nodes share the log (Options::follow_log): only then may a request have
  // been forwarded by one.
  bool shares_log() const { return options_.follow_log; }

  // Who writes `org`'s partition (see Writer). Any thread, no I/O.
  Writer WriterOf(std::string_view org) const;
  // Claims / releases partitions for this node (follow_log only): the group protocol's
  // assignment. Asynchronous: writer_health() says when a claim holds.
  void Claim(const std::vector<int32_t>& partitions);
  // The URL the next claims advertise (known once the HTTP server has bound its port).
  void SetAdvertiseUrl(std::string url);
  void Release(const std::vector<int32_t>& partitions);

  // Makes every partition's scheduler re-read the clock now (see PartitionWriter::Wake).
  void WakeSchedulers();
  // Waits until every writer is idle (PartitionWriter::WaitIdle): every command
  // submitted before the call answered, every timer due at the clock's now fired.
  void WaitIdle();
  // The expiry scheduler's metrics, summed over partitions.
  SchedulerStats scheduler_stats() const;
  // Every partition's writer health, without I/O (see WriterHealth).
  std::vector<WriterHealth> writer_health() const;
  // The log's breaker (EventLog::Reachability): no I/O.
  events::LogReachability log_reachability() const { return log_.Reachability(); }

  // Whether the engine can serve: reads every partition's end offset from the log
  // (bounded by the log's own timeout), then checks that the views are current and
  // at most `max_lag` events behind. Ok, or kUnavailable saying the first problem.
  Status CheckReady(int64_t max_lag);

  // The read side: keys, audit trail, point-in-time answers.
  const Queries& queries() const { return queries_; }
  const TokenCodec& tokens() const { return tokens_; }
  const VerifyIndex& index() const { return index_; }

 private:
  struct Partition;
  Engine(events::EventLog& log, projections::ViewStore& views, const Clock& clock, Options options);
  Status AppendKeyUse(const domain::CommandContext& context, int64_t epoch,
                      const KeyUsage::Uses& uses);
  void Issue(const domain::CommandContext& context, IssuedToken token, domain::Command command,
             IssuedCallback done);

  events::EventLog& log_;
  projections::ViewStore& views_;
  const Clock& clock_;
  const Options options_;
  Random& random_;
  mutable std::mutex advertise_mu_;
  std::string advertise_url_;  // guarded by advertise_mu_
  Queries queries_;
  TokenCodec tokens_;
  VerifyIndex index_;
  mutable KeyUsage key_use_;
  std::mutex flush_mu_;
  std::condition_variable flush_cv_;
  bool stopping_ = false;  // guarded by flush_mu_
  std::thread flusher_;
  events::EventIdGenerator ids_;
  std::vector<std::unique_ptr<Partition>> partitions_;
};

}  // namespace keytrail
