// PartitionWriter: the single writer of one log partition.
//
// Every command for an org of this partition goes through it: load state, decide,
// append, apply. Being the only writer is what makes the domain's checks true (Kafka
// has no conditional append). Commands queue up; the writer takes all queued commands
// as one batch, decides them in order against the state (each sees the ones before
// it), appends the batch's events with one log append per org (group commit), then
// brings the partition's views up to date, and only then answers. So an answered
// command is durable in the log AND visible in the views (read-your-writes).
//
// Idempotency: events carry their command id, and the state remembers every command
// id it has seen; a command retried with a known id is answered from that record
// (kReplayed) and writes nothing.
//
// On Start the writer folds its partition's log from offset 0 into its state and
// catches the views up before it accepts commands, so it resumes correctly after any
// crash, kill -9 included.
//
// Authorization: a command whose context asks for it (CommandContext::authorize) is
// checked with AuthorizeCommand against the same state Decide sees, so a concurrent
// move or rule change cannot slip between the check and the decision. A refusal is the
// rejection kForbidden.
//
// Expiry and the org's key policy: the writer owns its partition's timers (TimerQueue).
// It sleeps until the earliest is due (or a command arrives) and then submits, for every
// due timer, ExpireKey, NoteExpiringSoon or RevokeUnusedKey through the same path as any
// command (actor kind `scheduler`, command ids "expire:", "expiring-soon:", "unused:"
// and the key id), so a key revoked or used meanwhile is left alone and each event is
// written exactly once. Overdue timers fire at once after a restart.
//
// Several nodes (Options::follow_log, Kafka): every node runs a writer per partition, and
// every writer follows its partition continuously, folding what any node writes into its
// state, views, verify index and group directories (a full replica). It writes only
// while it holds the partition: Claim() appends a WriterClaimed with an epoch one above
// the last and takes the partition once that claim is read back as the current one;
// every event it writes carries that epoch. Events are fenced by the log
// (events/epoch_fence.h): a command is acknowledged only if its events were read back
// unfenced; otherwise it is answered kUnavailable and the writer stops writing.
// Timers fire only while the writer holds the partition. Without follow_log (the
// embedded log, one process) the writer holds its partition from Start on, at epoch 0.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "engine/domain/decide.h"
#include "engine/timer_queue.h"
#include "events/epoch_fence.h"
#include "events/event_id.h"
#include "events/event_log.h"

namespace keytrail::projections {
class Projector;
}  // namespace keytrail::projections

namespace keytrail {

// What became of a command.
struct CommandOutcome {
  enum class Kind : uint8_t {
    kApplied,   // its events are durable and applied
    kRejected,  // the domain refused it (or the actor may not issue it: kForbidden);
                // nothing was written
    kReplayed,  // its command id was seen before; nothing was written this time
  };
  Kind kind = Kind::kApplied;
  std::optional<domain::Rejection> rejection;   // set iff kRejected
  std::string aggregate_id;                     // the key / group / org it acted on
  fb::Payload first_event = fb::Payload::NONE;  // type of its (first) event, if any
  std::vector<int64_t> offsets;                 // log offsets written (kApplied)
  // Its events as written (kApplied, a caller's CreateKey or RotateKey): the answer shows
  // the key as they made it rather than reading the views back.
  std::vector<std::string> events;
};

// A writer's view of its partition's health, for readiness checks and metrics.
struct WriterHealth {
  int32_t partition = 0;
  int64_t applied_offset = 0;       // next log offset the views will apply (their checkpoint)
  int64_t log_end_seen = 0;         // the log's end as last seen (appends, NoteLogEnd)
  bool views_current = true;        // false while the views cannot catch up (a halted projector)
  bool log_ok = true;               // false after a failed append, until an append succeeds
  LatencySnapshot command_latency;  // callers' commands, from Submit to answer
  LatencySnapshot append_latency;   // each EventLog::Append call
  bool writing = false;             // this node holds the partition (see Claim)
  events::PartitionClaim claim;     // the partition's current claim, as read from the log
  uint64_t fenced_events = 0;       // events the fence refused since the views loaded
  size_t command_records = 0;       // command ids remembered for retries (all orgs)
  size_t keys_in_memory = 0;  // keys in the writer's state (all orgs): live + recently retired
};

// The answer to a command while the log is known to be unreachable (kUnavailable).
Status UnreachableLog(const events::LogReachability& log);

// Called once with a command's outcome, on the writer's thread (or, for a command refused
// at once, on the submitting thread). It must not block: hand the result on.
using CommandCallback = std::function<void(Result<CommandOutcome>)>;

class PartitionWriter {
 public:
  struct Options {
    domain::DomainOptions domain;
    size_t max_batch = 512;  // commands decided and appended together
    // Commands waiting for the writer; one more is refused at once with kUnavailable
    // ("busy"), so callers get back-pressure instead of an unbounded queue.
    size_t max_queued = 16384;
    // How long a command id (Idempotency-Key) is remembered for answering retries; older
    // ones are forgotten (checked once a minute), so idempotency costs bounded memory.
    // 0 = forever.
    Micros idempotency_window = 24LL * 3600 * 1'000'000;
    // How long a revoked or expired key stays in the writer's memory after its KeyRevoked /
    // KeyExpired (checked once a minute); then only the key view has it, and a command on
    // it reads it back from there. 0 = forever.
    Micros retired_key_window = 24LL * 3600 * 1'000'000;
    // Several nodes share the log: follow it continuously, write only after Claim().
    bool follow_log = false;
    std::string node_id;  // in WriterClaimed, and in the answers of other nodes
  };

  // Borrows everything; all must outlive the writer. `projector` must be used by this
  // writer only; the writer adds its own state fold to it (Projector::Add).
  PartitionWriter(int32_t partition, events::EventLog& log, projections::Projector& projector,
                  const Clock& clock, events::EventIdGenerator& ids, Options options);
  ~PartitionWriter();  // Stop()s
  PartitionWriter(const PartitionWriter&) = delete;
  PartitionWriter& operator=(const PartitionWriter&) = delete;

  // Rebuilds the state from the log, catches the views up, starts the writer thread.
  Status Start();
  // Answers what is queued with kUnavailable and stops the thread. Idempotent.
  void Stop();

  // Queues a command; `done` gets its outcome once it is durable and applied (or
  // refused). REQUIRES: context.org maps to this partition.
  // Errors: kUnavailable (not started, stopping, the queue is full, the log failed, this
  // node does not hold the partition, or the command's events were fenced), kCorruption /
  // kIoError (views could not be updated; the events may be durable, so retry with the
  // same command id to learn the outcome).
  void Submit(domain::CommandContext context, domain::Command command, CommandCallback done);
  // The same, for a caller that waits.
  std::future<Result<CommandOutcome>> Submit(domain::CommandContext context,
                                             domain::Command command);

  int32_t partition() const { return partition_; }

  // Asks the writer thread to claim the partition (follow_log only): catch up, append a
  // WriterClaimed one epoch above the last, and write once it is read back as current.
  // Asynchronous; writing() tells when it holds.
  void Claim(std::string advertise_url);
  // Stops writing at once (the partition was assigned elsewhere); a batch in flight
  // finishes, and its events are fenced if the new owner's claim came first.
  void Release();
  // Whether this writer holds the partition now. Any thread.
  bool writing() const { return writing_.load(std::memory_order_acquire); }
  // The partition's current claim as last read from the log. Any thread.
  events::PartitionClaim claim() const;

  // The groups and members of `org` as of the last answered command that changed them:
  // an immutable copy, published before that command was answered, so a rule change is
  // seen by every reader once acknowledged. nullptr if the org has none (unknown org).
  // Any thread; a shared lock and a reference count, no copy.
  std::shared_ptr<const domain::GroupDirectory> Directory(std::string_view org) const;

  // Re-reads the clock and fires whatever timers are due: for clocks that jump (tests'
  // FakeClock, or a wall clock set forward). Without it the writer notices within 1 s.
  void Wake();
  // Wakes the writer and waits until it has answered every command queued before the
  // call, fired every timer due at the clock's now, and gone to sleep: for tests and
  // tools that drive a FakeClock, so "nothing happened" is checked without sleeping.
  // False if the writer is not running.
  bool WaitIdle();

  SchedulerStats scheduler_stats() const;
  WriterHealth health() const;
  // Records the log's end offset as read by someone else (a readiness check), so the
  // projector lag in health() is measured against it.
  void NoteLogEnd(int64_t end);

 private:
  struct Pending;
  struct DecidedBatch;
  class StateFold;
  using Batch = std::vector<std::unique_ptr<Pending>>;
  using Written = std::map<std::string, Result<std::vector<int64_t>>>;  // org -> offsets
  void Run();
  // A batch in four steps: ReadyToDecide (recover the state, catch the views up),
  // DecideAll (authorize, decide, stage the events), AppendAll (one append per org), then
  // catch the views up and AnswerAll.
  void ProcessBatch(Batch& batch);
  // False after answering every command with the reason, if the state or the views
  // cannot be made current.
  bool ReadyToDecide(Batch& batch);
  // Answers every command of `batch` with `why`; nothing was decided.
  void RefuseAll(Batch& batch, const Status& why);
  DecidedBatch DecideAll(Batch& batch, Micros now);
  // The rejection of a command the acting principal may not issue, if any.
  static std::optional<domain::Rejection> Refusal(const domain::OrgState& state,
                                                  const Pending& pending, Micros now);
  // Stamps and encodes the command's events, folds them into the state (later commands
  // of the batch see them) and queues them for the org's append.
  void StageEvents(domain::OrgState& state, Pending& pending, std::vector<domain::NewEvent> events,
                   Micros now, DecidedBatch& decided);
  Written AppendAll(DecidedBatch& decided);
  void AnswerAll(Batch& batch, const Written& written, const Status& projected);
  // Records the command's latency, then answers it.
  void Answer(Pending& pending, Result<CommandOutcome> result);
  // Submits ExpireKey for up to one batch of due timers.
  enum class Fired { kNone, kProgress, kFailed };
  Fired FireDueTimers();
  // Forgets command ids older than the idempotency window and keys retired longer than
  // the retired-key window (at most once a minute), and publishes how many are kept.
  void ForgetOld();
  // Puts back into `state` the retired key `command` acts on if it was forgotten (read
  // from the key view, which the writer keeps current before deciding). Errors: the view's.
  Status RecallForgottenKey(domain::OrgState& state, const domain::Command& command, Micros now);
  void PublishTimerStats();
  // Called under mu_ each time the thread goes to sleep with nothing to do.
  void NoteIdle();
  // projector_.CatchUp, publishing the views' health and the claim.
  Status CatchUpViews();
  // One step of following the log (follow_log, nothing else to do).
  void FollowLog();
  // Reads the partition's claim from the projector; stops writing if it is not ours.
  void PublishClaim();
  // The claim procedure (see Claim()), on the writer thread.
  void ClaimNow();
  // kUnavailable if the fence refused any of `offsets` (this writer's appended events, just
  // read back through the projector), else Ok. Exact per offset (own_fenced_).
  Status CheckNotFenced(const std::vector<int64_t>& offsets);
  Status RecoverState();
  // Folds one event the fence admitted into the state and the timers.
  Status Fold(int64_t offset, const fb::Envelope& event);
  domain::OrgState& StateOf(const std::string& org);
  // Publishes a copy of the org's GroupDirectory for Directory(); every org's after
  // RecoverState.
  void PublishDirectory(const std::string& org);
  void PublishAllDirectories();

  const int32_t partition_;
  events::EventLog& log_;
  projections::Projector& projector_;
  const Clock& clock_;
  events::EventIdGenerator& ids_;
  const Options options_;

  std::unordered_map<std::string, domain::OrgState> states_;  // writer thread only
  bool needs_recovery_ = false;                               // writer thread only
  // Offsets below this are folded into states_ (by RecoverState, by the writer's own
  // batches, or by the fold as the projector applies them). Writer thread only.
  int64_t folded_through_ = 0;
  std::set<int64_t> own_pending_;  // appended by this writer, folded, not yet read back
  std::set<int64_t> own_fenced_;   // of those, the ones the fence refused
  int64_t epoch_ = 0;              // the epoch this writer stamps on its events; writer thread only
  std::unique_ptr<StateFold> fold_;
  std::atomic<bool> writing_{false};
  mutable std::mutex claim_mu_;
  events::PartitionClaim claim_;  // guarded by claim_mu_
  std::atomic<uint64_t> fenced_events_{0};
  TimerQueue timers_;  // writer thread only
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Pending>> queue_;  // guarded by mu_
  bool running_ = false;                        // guarded by mu_
  bool wake_ = false;                           // guarded by mu_
  bool claim_requested_ = false;                // guarded by mu_
  // The group assigned this partition here: set by Claim, cleared by Release, and by
  // nothing else. While it is set and the writer is not writing, it claims (again).
  std::atomic<bool> assigned_{false};
  std::chrono::steady_clock::time_point next_claim_try_;  // writer thread only
  std::string claim_url_;                                 // guarded by mu_: for the next claim
  uint64_t idle_passes_ = 0;                              // guarded by mu_; see NoteIdle
  std::condition_variable idle_cv_;                       // signalled by NoteIdle
  Micros next_due_ = -1;                                  // guarded by mu_; -1 = no timer
  Micros retry_timers_at_ = 0;  // writer thread only: backoff after failure, early timers
  Micros forget_at_ = 0;        // writer thread only: next ForgetOld pass
  std::atomic<size_t> command_records_{0};
  std::atomic<size_t> keys_in_memory_{0};

  // Scheduler metrics, read by any thread.
  std::atomic<size_t> pending_timers_{0};
  std::atomic<uint64_t> expired_{0};
  std::atomic<uint64_t> revoked_unused_{0};
  std::atomic<uint64_t> expiring_soon_{0};
  LatencyRecorder lateness_;
  // Health, read by any thread.
  std::atomic<int64_t> applied_offset_{0};
  std::atomic<int64_t> log_end_seen_{0};
  std::atomic<bool> views_current_{true};
  std::atomic<bool> log_ok_{true};
  LatencyRecorder command_latency_;
  LatencyRecorder append_latency_;
  // Published group directories (see Directory()).
  mutable std::shared_mutex directories_mu_;
  std::unordered_map<std::string, std::shared_ptr<const domain::GroupDirectory>>
      directories_;  // guarded by directories_mu_
  std::thread thread_;
};

}  // namespace keytrail
