#include "engine/writer.h"

#include <map>
#include <set>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "base/thread_name.h"
#include "engine/domain/command_policy.h"
#include "events/codec.h"
#include "projections/key_view.h"
#include "projections/projector.h"

namespace keytrail {

struct PartitionWriter::Pending {
  domain::CommandContext context;
  domain::Command command;
  CommandCallback done;                          // empty for the scheduler's own commands
  std::optional<Result<CommandOutcome>> result;  // their answer, read after the batch
  CommandOutcome outcome;
  size_t first_event = 0;  // index of its first event in its org's append
  size_t event_count = 0;
  std::optional<TimerQueue::Timer> timer;  // set for the scheduler's own commands
  bool depends_on_batch = false;           // decided on top of this batch's unwritten events
  Status failure;                          // not Ok: answered with it, nothing was decided
  std::chrono::steady_clock::time_point submitted = std::chrono::steady_clock::now();
};

Status UnreachableLog(const events::LogReachability& log) {
  return Status::Unavailable(
      fmt::format("the event log is unreachable ({}); commands are refused until it answers "
                  "again, verification goes on",
                  log.reason));
}

namespace {

constexpr size_t kMaxExpiriesPerBatch = 4096;
// Recovery reads the partition in runs of this many records, and gives up when the log
// says it holds more but nothing arrives for kRecoveryMaxIdlePolls polls in a row.
constexpr size_t kRecoveryReadBatch = 4096;
constexpr auto kRecoveryPoll = std::chrono::milliseconds(1000);
constexpr int kRecoveryMaxIdlePolls = 30;
// Recovery forgets long-retired keys every this many records (see ForgetOld).
constexpr int64_t kRecoveryForgetEvery = 1 << 16;
// Longest wait of a following writer for new records: a command, a claim or Wake() cut it
// short (LogReader::Wake), and it ends at the next timer's due time, so this bounds only
// how often an idle node looks at its partition.
constexpr auto kFollowPoll = std::chrono::milliseconds(100);
// How soon a claim that failed is tried again while the partition stays assigned here.
constexpr auto kClaimRetry = std::chrono::seconds(1);
// Longest sleep: bounds how late a timer fires if the wall clock jumps forward.
constexpr auto kMaxSleep = std::chrono::seconds(1);
// Longest sleep of a writer with no timer: it wakes to forget what is past its window.
constexpr auto kForgetCheck = std::chrono::seconds(60);

// Commands whose answers are built from their events (CommandOutcome::events); no other
// command's events are copied on the writer thread.
bool AnswersWithItsEvents(const domain::Command& command) {
  return std::holds_alternative<domain::CreateKey>(command) ||
         std::holds_alternative<domain::RotateKey>(command);
}

// Events after which an org's published group directory is out of date.
bool ChangesDirectory(fb::Payload type) {
  switch (type) {
    case fb::Payload::OrgCreated:
    case fb::Payload::GroupCreated:
    case fb::Payload::GroupRulesChanged:
    case fb::Payload::GroupDeleted:
    case fb::Payload::MemberGroupsChanged:
    case fb::Payload::MemberProfileChanged:
    case fb::Payload::OrgSsoChanged:
    case fb::Payload::OrgPolicyChanged:
    case fb::Payload::MemberInvited:
    case fb::Payload::MemberPasswordSet:
    case fb::Payload::MemberSignedIn:
    case fb::Payload::MemberSignedOut:
      return true;
    default:
      return false;
  }
}

}  // namespace

// Folds what the projector applies into the writer's state (others' events, when several
// nodes share the log), so the state stays what the log says. The writer's own appended
// events (own_pending_) are already in it; if the fence refuses one of them, the state is
// wrong and the command must not be acknowledged (own_fenced_). Runs on the writer
// thread, which drives the projector.
class PartitionWriter::StateFold final : public projections::Projection {
 public:
  explicit StateFold(PartitionWriter& writer) : writer_(writer) {}

  std::string_view prefix() const override { return "(writer state)"; }

  Status Apply(const projections::LogPosition& position, const fb::Envelope& event,
               projections::ViewBatch&) override {
    if (writer_.own_pending_.erase(position.offset) > 0) return Status::Ok();  // folded
    // Already folded, or about to be read again from the log (RecoverState).
    if (position.offset < writer_.folded_through_ || writer_.needs_recovery_) return Status::Ok();
    writer_.folded_through_ = position.offset + 1;
    KT_RETURN_IF_ERROR(writer_.Fold(position.offset, event));
    if (ChangesDirectory(event.payload_type())) changed_.insert(event.org()->str());
    return Status::Ok();
  }
  Status ApplyFenced(const projections::LogPosition& position, const fb::Envelope&,
                     const events::PartitionClaim&, projections::ViewBatch&) override {
    if (writer_.own_pending_.erase(position.offset) > 0) {
      writer_.own_fenced_.insert(position.offset);
      writer_.needs_recovery_ = true;  // the state holds an event the log refused
    }
    return Status::Ok();
  }
  void Committed() override {
    for (const std::string& org : changed_) writer_.PublishDirectory(org);
    changed_.clear();
  }
  // The state holds events whose rows were not committed: read it again from the log.
  void Aborted() override {
    writer_.needs_recovery_ = true;
    changed_.clear();
  }

 private:
  PartitionWriter& writer_;
  std::set<std::string> changed_;
};

PartitionWriter::PartitionWriter(int32_t partition, events::EventLog& log,
                                 projections::Projector& projector, const Clock& clock,
                                 events::EventIdGenerator& ids, Options options)
    : partition_(partition),
      log_(log),
      projector_(projector),
      clock_(clock),
      ids_(ids),
      options_(std::move(options)),
      fold_(std::make_unique<StateFold>(*this)) {
  // One process writing the log alone (no follow_log) folds its events when it stages
  // them; nobody else's ever arrive, so the fold would only cost time on every event.
  if (options_.follow_log) projector_.Add(fold_.get());
}

PartitionWriter::~PartitionWriter() { Stop(); }

domain::OrgState& PartitionWriter::StateOf(const std::string& org) {
  auto [it, inserted] = states_.try_emplace(org);
  if (inserted) it->second.id = org;
  return it->second;
}

void PartitionWriter::PublishDirectory(const std::string& org) {
  auto copy = std::make_shared<const domain::GroupDirectory>(
      static_cast<const domain::GroupDirectory&>(StateOf(org)));
  std::unique_lock lock(directories_mu_);
  directories_[org] = std::move(copy);
}

void PartitionWriter::PublishAllDirectories() {
  std::unordered_map<std::string, std::shared_ptr<const domain::GroupDirectory>> all;
  for (const auto& [org, state] : states_) {
    all.emplace(org, std::make_shared<const domain::GroupDirectory>(
                         static_cast<const domain::GroupDirectory&>(state)));
  }
  std::unique_lock lock(directories_mu_);
  directories_ = std::move(all);
}

std::shared_ptr<const domain::GroupDirectory> PartitionWriter::Directory(
    std::string_view org) const {
  std::shared_lock lock(directories_mu_);
  auto it = directories_.find(std::string(org));
  return it == directories_.end() ? nullptr : it->second;
}

Status PartitionWriter::Fold(int64_t offset, const fb::Envelope& event) {
  if (event.payload_type() == fb::Payload::WriterClaimed) return Status::Ok();  // no org state
  domain::OrgState& state = StateOf(event.org()->str());
  timers_.Forget(event, state);
  Status s = domain::Evolve(state, event);
  if (!s.ok()) {
    return Status::Corruption(
        fmt::format("partition {} offset {}: {}", partition_, offset, s.message()));
  }
  timers_.Apply(event, state);
  return Status::Ok();
}

Status PartitionWriter::RecoverState() {
  states_.clear();
  timers_.Clear();
  auto end = log_.EndOffset(partition_);
  if (!end.ok()) return end.status();
  // Records an operator skipped (keytrail projector skip) are not in the views; the
  // state must not hold them either.
  auto skipped_offsets = projector_.SkippedOffsets(partition_);
  if (!skipped_offsets.ok()) return skipped_offsets.status();
  const std::set<int64_t> skipped(skipped_offsets->begin(), skipped_offsets->end());
  auto reader = log_.OpenReader(partition_, 0);
  if (!reader.ok()) return reader.status();
  events::EpochFence fence;  // the projector's rule: fenced events never reach the state
  int64_t next = 0;
  int idle = 0;
  // Keys retired long ago leave as the fold goes, so a reload holds the live keys and a
  // window's retirements, not every key the partition ever had.
  const Micros forget_before = clock_.NowMicros() - options_.retired_key_window;
  int64_t forget_at = kRecoveryForgetEvery;
  while (next < *end) {
    if (options_.retired_key_window > 0 && next >= forget_at) {
      forget_at = next + kRecoveryForgetEvery;
      for (auto& [org, state] : states_) domain::ForgetRetiredKeysBefore(state, forget_before);
    }
    auto records = (*reader)->Next(kRecoveryReadBatch, kRecoveryPoll);
    if (!records.ok()) return records.status();
    if (records->empty() && ++idle == kRecoveryMaxIdlePolls) {
      return Status::Timeout(
          fmt::format("partition {}: offset {} of {} never arrived", partition_, next, *end));
    }
    for (const events::LogRecord& record : *records) {
      next = record.offset + 1;
      if (skipped.contains(record.offset)) continue;
      auto event = events::Decode(record.value);
      if (!event.ok()) {
        return Status::Corruption(fmt::format("partition {} offset {}: {}", partition_,
                                              record.offset, event.status().message()));
      }
      if (!fence.Admit(record.offset, **event)) continue;
      KT_RETURN_IF_ERROR(Fold(record.offset, **event));
    }
  }
  folded_through_ = next;
  own_pending_.clear();  // whatever of them is in the log, the fold above has it
  own_fenced_.clear();
  PublishAllDirectories();
  forget_at_ = 0;
  ForgetOld();
  return Status::Ok();
}

Status PartitionWriter::Start() {
  KT_RETURN_IF_ERROR(RecoverState());
  KT_RETURN_IF_ERROR(CatchUpViews());
  PublishTimerStats();
  writing_.store(!options_.follow_log, std::memory_order_release);
  std::lock_guard lock(mu_);
  running_ = true;
  thread_ = std::thread([this] {
    NameThisThread(fmt::format("kt-writer-{}", partition_));
    Run();
  });
  return Status::Ok();
}

void PartitionWriter::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    running_ = false;
  }
  cv_.notify_all();
  idle_cv_.notify_all();
  projector_.Wake(partition_);
  thread_.join();
  std::deque<std::unique_ptr<Pending>> queued;
  {
    std::lock_guard lock(mu_);
    queued.swap(queue_);
  }
  for (auto& pending : queued) {
    pending->done(Status::Unavailable("the writer is stopping"));
  }
}

void PartitionWriter::Submit(domain::CommandContext context, domain::Command command,
                             CommandCallback done) {
  auto pending = std::make_unique<Pending>();
  pending->context = std::move(context);
  pending->command = std::move(command);
  pending->done = std::move(done);
  Status refused;
  {
    std::lock_guard lock(mu_);
    if (!running_) {
      refused = Status::Unavailable("the writer is not running");
    } else if (queue_.size() >= options_.max_queued) {
      refused = Status::Unavailable(
          fmt::format("busy: {} commands are waiting for partition {}", queue_.size(), partition_));
    } else {
      queue_.push_back(std::move(pending));
    }
  }
  if (!refused.ok()) return pending->done(std::move(refused));
  cv_.notify_one();
  if (options_.follow_log) projector_.Wake(partition_);  // it may be waiting for records
}

std::future<Result<CommandOutcome>> PartitionWriter::Submit(domain::CommandContext context,
                                                            domain::Command command) {
  auto promise = std::make_shared<std::promise<Result<CommandOutcome>>>();
  auto future = promise->get_future();
  Submit(std::move(context), std::move(command),
         [promise](Result<CommandOutcome> result) { promise->set_value(std::move(result)); });
  return future;
}

void PartitionWriter::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
  if (options_.follow_log) projector_.Wake(partition_);
}

void PartitionWriter::NoteIdle() {
  ++idle_passes_;
  idle_cv_.notify_all();
}

bool PartitionWriter::WaitIdle() {
  std::unique_lock lock(mu_);
  if (!running_) return false;
  const uint64_t before = idle_passes_;
  wake_ = true;
  cv_.notify_one();
  if (options_.follow_log) projector_.Wake(partition_);
  idle_cv_.wait(lock, [&] { return !running_ || idle_passes_ > before; });
  return running_;
}

void PartitionWriter::ForgetOld() {
  const Micros now = clock_.NowMicros();
  if (now >= forget_at_) {
    forget_at_ = now + 60'000'000;
    for (auto& [org, state] : states_) {
      if (options_.idempotency_window > 0) {
        domain::ForgetCommandsBefore(state, now - options_.idempotency_window);
      }
      if (options_.retired_key_window > 0) {
        domain::ForgetRetiredKeysBefore(state, now - options_.retired_key_window);
      }
    }
  }
  size_t records = 0;
  size_t keys = 0;
  for (const auto& [org, state] : states_) {
    records += state.commands.size();
    keys += state.keys.size();
  }
  command_records_.store(records, std::memory_order_relaxed);
  keys_in_memory_.store(keys, std::memory_order_relaxed);
}

namespace {

// The existing key `command` acts on, if it names one (CreateKey's id is a new one).
std::optional<KeyId> KeyActedOn(const domain::Command& command) {
  return std::visit(
      [](const auto& c) -> std::optional<KeyId> {
        using C = std::decay_t<decltype(c)>;
        if constexpr (!std::is_same_v<C, domain::CreateKey> && requires { c.key_id; }) {
          return c.key_id;
        } else {
          return std::nullopt;
        }
      },
      command);
}

domain::KeyStatus DomainStatus(model::KeyStatus status) {
  return status == model::KeyStatus::kExpired ? domain::KeyStatus::kExpired
                                              : domain::KeyStatus::kRevoked;
}

}  // namespace

Status PartitionWriter::RecallForgottenKey(domain::OrgState& state, const domain::Command& command,
                                           Micros now) {
  if (options_.retired_key_window == 0) return Status::Ok();  // nothing is forgotten
  const std::optional<KeyId> id = KeyActedOn(command);
  if (!id || state.keys.contains(*id)) return Status::Ok();
  auto found = projections::KeyViewProjection::GetKey(projector_.store(), state.id, *id);
  if (!found.ok()) {
    return Status(found.status().code(), fmt::format("reading key {} from the key view: {}",
                                                     FormatKeyId(*id), found.status().message()));
  }
  // Live keys are always in memory: a key the view lacks or has live is unknown here.
  if (!*found || model::IsLive((*found)->status)) return Status::Ok();
  const model::KeyRecord& record = **found;
  domain::KeyState key;
  key.id = record.key_id;
  key.expires_at = record.expires_at_us;
  key.status = DomainStatus(record.status);
  key.scim = std::find(record.permissions.begin(), record.permissions.end(), "scim") !=
             record.permissions.end();
  key.version = static_cast<uint32_t>(record.version);
  key.idle_since = std::max(record.created_at_us, record.last_used_at_us);
  domain::RecallRetiredKey(state, key, record.name, record.group_id, record.created_by, now);
  return Status::Ok();
}

void PartitionWriter::PublishTimerStats() {
  pending_timers_.store(timers_.size(), std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  next_due_ = timers_.NextDue().value_or(-1);
}

WriterHealth PartitionWriter::health() const {
  WriterHealth health;
  health.partition = partition_;
  health.applied_offset = applied_offset_.load(std::memory_order_relaxed);
  health.log_end_seen = log_end_seen_.load(std::memory_order_relaxed);
  health.views_current = views_current_.load(std::memory_order_relaxed);
  health.log_ok = log_ok_.load(std::memory_order_relaxed);
  health.command_records = command_records_.load(std::memory_order_relaxed);
  health.keys_in_memory = keys_in_memory_.load(std::memory_order_relaxed);
  health.command_latency = command_latency_.Snapshot();
  health.append_latency = append_latency_.Snapshot();
  health.writing = writing();
  health.claim = claim();
  health.fenced_events = fenced_events_.load(std::memory_order_relaxed);
  return health;
}

events::PartitionClaim PartitionWriter::claim() const {
  std::lock_guard lock(claim_mu_);
  return claim_;
}

void PartitionWriter::Claim(std::string advertise_url) {
  {
    std::lock_guard lock(mu_);
    claim_requested_ = true;
    claim_url_ = std::move(advertise_url);
  }
  assigned_.store(true, std::memory_order_release);
  cv_.notify_one();
  projector_.Wake(partition_);
}

void PartitionWriter::Release() {
  assigned_.store(false);  // before writing_: see ClaimNow
  writing_.store(false);
  Wake();
}

void PartitionWriter::PublishClaim() {
  auto current = projector_.Claim(partition_);
  if (!current.ok()) return;
  if (auto fenced = projector_.FencedEvents(partition_); fenced.ok()) {
    fenced_events_.store(*fenced, std::memory_order_relaxed);
  }
  if (writing() && options_.follow_log && current->epoch != epoch_) {
    // Another node claimed the partition after us: nothing we append counts any more. If
    // the group still assigns the partition here, FollowLog claims it again.
    writing_.store(false, std::memory_order_release);
  }
  std::lock_guard lock(claim_mu_);
  claim_ = std::move(current).value();
}

void PartitionWriter::ClaimNow() {
  if (!options_.follow_log || writing() || !assigned_.load(std::memory_order_acquire)) return;
  next_claim_try_ = std::chrono::steady_clock::now() + kClaimRetry;
  if (needs_recovery_) {
    if (!RecoverState().ok()) return;
    needs_recovery_ = false;
  }
  if (!CatchUpViews().ok()) return;
  const events::PartitionClaim before = claim();
  const std::string key = events::ClaimKeyFor(partition_, log_.PartitionCount());
  fb::WriterClaimedT claimed;
  claimed.partition = partition_;
  claimed.node_id = options_.node_id;
  {
    std::lock_guard lock(mu_);
    claimed.advertise_url = claim_url_;
  }
  claimed.epoch = before.epoch + 1;
  domain::NewEvent event{.aggregate_id = key,
                         .aggregate_version = static_cast<uint64_t>(claimed.epoch)};
  event.payload.Set(std::move(claimed));
  fb::EnvelopeT envelope =
      domain::Stamp({.org = key, .actor_kind = fb::ActorKind::System, .actor_id = options_.node_id},
                    std::move(event), ids_.Next(), clock_.NowMicros());
  envelope.writer_epoch = before.epoch + 1;
  const std::string bytes = events::Encode(envelope);
  auto offsets = log_.Append(key, std::span<const std::string>(&bytes, 1));
  if (!offsets.ok() || offsets->size() != 1) return;  // FollowLog tries again
  NoteLogEnd(offsets->back() + 1);
  if (!CatchUpViews().ok()) return;
  const events::PartitionClaim now = claim();
  // Ours iff the claim read back is the record we wrote: a node that claimed the same
  // epoch first wins, and ours was fenced.
  // And still ours to write: the group may have moved the partition meanwhile (Release).
  if (now.offset == offsets->front() && now.epoch == before.epoch + 1 && assigned_.load()) {
    epoch_ = now.epoch;
    writing_.store(true);
    // A Release between the check and the store: it cleared assigned_ first, so this
    // (sequentially consistent) second look sees it, and writing stops.
    if (!assigned_.load()) writing_.store(false);
  }
}

Status PartitionWriter::CheckNotFenced(const std::vector<int64_t>& offsets) {
  bool fenced = false;
  for (int64_t offset : offsets) fenced |= own_fenced_.erase(offset) > 0;
  if (!fenced) return Status::Ok();
  const events::PartitionClaim current = claim();
  writing_.store(false, std::memory_order_release);
  return Status::Unavailable(fmt::format(
      "partition {} moved to node '{}' before the command's events were written (fenced); "
      "retry",
      partition_, current.node_id));
}

void PartitionWriter::FollowLog() {
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(kFollowPoll);
  if (writing()) {
    std::lock_guard lock(mu_);
    if (next_due_ >= 0) {
      const Micros until = std::max(next_due_, retry_timers_at_) - clock_.NowMicros();
      wait = std::min(wait, std::chrono::milliseconds(std::max<Micros>(0, until / 1000)));
    }
  }
  auto applied = projector_.Step(partition_, wait);
  views_current_.store(applied.ok(), std::memory_order_relaxed);
  if (!applied.ok()) {
    std::this_thread::sleep_for(kFollowPoll);  // a halted or failing projector: no spin
    return;
  }
  if (auto checkpoint = projector_.Checkpoint(partition_); checkpoint.ok()) {
    applied_offset_.store(*checkpoint, std::memory_order_relaxed);
    NoteLogEnd(*checkpoint);
  }
  if (*applied > 0) {
    PublishClaim();
    PublishTimerStats();
    ForgetOld();
  }
  if (needs_recovery_ && RecoverState().ok()) needs_recovery_ = false;
  // Assigned here but not writing: the last claim failed, or a claim of a node that no
  // longer holds the partition (an in-flight claim, a woken paused node) got in first.
  // The group assigns a partition to one node at a time, so claiming again is right;
  // fencing keeps it safe if two nodes briefly both think so.
  if (assigned_.load(std::memory_order_acquire) && !writing() &&
      std::chrono::steady_clock::now() >= next_claim_try_) {
    ClaimNow();
  }
}

void PartitionWriter::NoteLogEnd(int64_t end) {
  int64_t seen = log_end_seen_.load(std::memory_order_relaxed);
  while (seen < end && !log_end_seen_.compare_exchange_weak(seen, end)) {
  }
}

Status PartitionWriter::CatchUpViews() {
  Status status = projector_.CatchUp(partition_);
  views_current_.store(status.ok(), std::memory_order_relaxed);
  if (status.ok()) {
    if (auto checkpoint = projector_.Checkpoint(partition_); checkpoint.ok()) {
      applied_offset_.store(*checkpoint, std::memory_order_relaxed);
      NoteLogEnd(*checkpoint);
    }
  }
  PublishClaim();
  return status;
}

SchedulerStats PartitionWriter::scheduler_stats() const {
  SchedulerStats stats;
  stats.pending_timers = pending_timers_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    if (next_due_ >= 0) stats.next_due = next_due_;
  }
  stats.expired = expired_.load(std::memory_order_relaxed);
  stats.revoked_unused = revoked_unused_.load(std::memory_order_relaxed);
  stats.expiring_soon = expiring_soon_.load(std::memory_order_relaxed);
  stats.lateness = lateness_.Snapshot();
  return stats;
}

void PartitionWriter::Run() {
  std::vector<std::unique_ptr<Pending>> batch;
  while (true) {
    bool follow = false;
    bool claim_now = false;
    {
      std::unique_lock lock(mu_);
      // Sleep until a command arrives, the earliest timer is due, or Wake(); a writer
      // that follows the log reads it instead of sleeping.
      while (running_ && queue_.empty() && !wake_ && !claim_requested_) {
        if (options_.follow_log) {
          NoteIdle();
          follow = true;
          break;
        }
        if (next_due_ < 0) {
          NoteIdle();
          cv_.wait_for(lock, kForgetCheck);  // an idle writer still forgets (ForgetOld)
          if (clock_.NowMicros() >= forget_at_) break;
          continue;
        }
        const Micros wake_at = std::max(next_due_, retry_timers_at_);
        const Micros delay = wake_at - clock_.NowMicros();
        if (delay <= 0) break;
        NoteIdle();
        cv_.wait_for(
            lock, std::min<std::chrono::microseconds>(std::chrono::microseconds(delay), kMaxSleep));
        if (next_due_ >= 0 && clock_.NowMicros() >= wake_at) break;
        if (clock_.NowMicros() >= forget_at_) break;
      }
      if (!running_) return;
      if (!follow) {
        wake_ = false;
        claim_now = std::exchange(claim_requested_, false);
        while (!queue_.empty() && batch.size() < options_.max_batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    if (follow) FollowLog();
    if (claim_now) ClaimNow();
    if (!batch.empty()) ProcessBatch(batch);
    batch.clear();
    for (Fired fired = FireDueTimers(); fired == Fired::kProgress; fired = FireDueTimers()) {
      std::lock_guard lock(mu_);
      if (!queue_.empty() || !running_) break;  // commands first; timers resume after
    }
    PublishTimerStats();
    if (clock_.NowMicros() >= forget_at_) ForgetOld();
  }
}

PartitionWriter::Fired PartitionWriter::FireDueTimers() {
  if (!writing()) return Fired::kNone;  // timers fire only where the partition is written
  const Micros now = clock_.NowMicros();
  if (now < retry_timers_at_) return Fired::kNone;
  std::vector<TimerQueue::Timer> due =
      timers_.Due(now, kMaxExpiriesPerBatch, [this](std::string_view org) {
        auto it = states_.find(std::string(org));
        return it == states_.end() ? nullptr : &it->second;
      });
  if (due.empty()) return Fired::kNone;
  std::vector<std::unique_ptr<Pending>> batch;
  for (TimerQueue::Timer& timer : due) {
    auto pending = std::make_unique<Pending>();
    pending->context.org = timer.org;
    pending->context.actor_kind = fb::ActorKind::Scheduler;
    pending->context.authorize = false;  // nobody's command: the key's expiry, the policy
    pending->context.actor_id = "scheduler";
    const std::string key = FormatKeyId(timer.key_id);
    switch (timer.kind) {
      case TimerQueue::Kind::kExpire:
        pending->context.command_id = "expire:" + key;
        pending->command = domain::ExpireKey{timer.key_id};
        break;
      case TimerQueue::Kind::kExpiringSoon:
        pending->context.command_id = "expiring-soon:" + key;
        pending->command = domain::NoteExpiringSoon{timer.key_id};
        break;
      case TimerQueue::Kind::kUnused:
        pending->context.command_id = "unused:" + key;
        pending->command = domain::RevokeUnusedKey{timer.key_id};
        break;
    }
    pending->timer = std::move(timer);
    batch.push_back(std::move(pending));
  }
  ProcessBatch(batch);
  bool progressed = false;
  bool early = false;
  for (auto& pending : batch) {
    const Result<CommandOutcome>& result = *pending->result;
    if (!result.ok()) continue;  // the log failed: the timer stays and fires again
    progressed = true;
    const TimerQueue::Timer& timer = *pending->timer;
    if (result->kind == CommandOutcome::Kind::kApplied) {  // its event rescheduled the key
      switch (timer.kind) {
        case TimerQueue::Kind::kExpire:
          expired_.fetch_add(1, std::memory_order_relaxed);
          lateness_.Record(now - timer.due);
          break;
        case TimerQueue::Kind::kExpiringSoon:
          expiring_soon_.fetch_add(1, std::memory_order_relaxed);
          break;
        case TimerQueue::Kind::kUnused:
          revoked_unused_.fetch_add(1, std::memory_order_relaxed);
          break;
      }
    } else if (result->rejection && result->rejection->code == domain::RejectionCode::kNotDue) {
      // Still queued: the clock stepped back between Due and the decision. Gone: an event
      // folded meanwhile (a use noted by another node) moved it; nothing to do.
      early |= timers_.Contains(timer);
    } else {
      timers_.Remove(timer);  // revoked, expired, policy changed: nothing to retry
    }
  }
  // The clock stepped back between Due and the decision: the timers wait a second from
  // the clock's new reading (every later timer is early too), rather than spin.
  if (early) retry_timers_at_ = clock_.NowMicros() + domain::kMicrosPerSecond;
  if (progressed) return Fired::kProgress;
  // The log is failing: try again in a second rather than spin on it.
  retry_timers_at_ = now + std::chrono::duration_cast<std::chrono::microseconds>(kMaxSleep).count();
  return Fired::kFailed;
}

void PartitionWriter::Answer(Pending& pending, Result<CommandOutcome> result) {
  if (!pending.timer) {  // the scheduler's own commands are measured as lateness
    command_latency_.Record(std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::steady_clock::now() - pending.submitted)
                                .count());
  }
  if (pending.done) {
    pending.done(std::move(result));
  } else {
    pending.result = std::move(result);
  }
}

// What deciding a batch produced: the events to append, per org, in order.
struct PartitionWriter::DecidedBatch {
  std::map<std::string, std::vector<std::string>> appends;  // org -> encoded events
  std::set<std::string> directory_changed;                  // orgs whose groups or members changed
  Status broken;  // set if a decided event did not fold: nothing may be appended
};

void PartitionWriter::ProcessBatch(Batch& batch) {
  if (!ReadyToDecide(batch)) return;
  DecidedBatch decided = DecideAll(batch, clock_.NowMicros());
  const bool wrote = !decided.appends.empty();
  Written written = AppendAll(decided);
  // Some events may or may not be in the log: the log is the truth, so the state is
  // re-read from it before the next command is decided.
  if (!decided.broken.ok()) needs_recovery_ = true;
  // Read-your-writes: the views must hold the events before anyone is answered; and what
  // was read back must not have been fenced.
  Status projected = wrote ? CatchUpViews() : Status::Ok();
  if (projected.ok()) {
    for (auto& [org, offsets] : written) {
      if (!offsets.ok()) continue;
      if (Status fenced = CheckNotFenced(*offsets); !fenced.ok()) offsets = fenced;
    }
  }
  PublishTimerStats();  // so is the scheduler's view of the timers
  ForgetOld();
  // And the group directories, so an acknowledged rule change holds for every reader.
  for (const std::string& org : decided.directory_changed) {
    if (written.at(org).ok()) PublishDirectory(org);
  }
  AnswerAll(batch, written, projected);
}

bool PartitionWriter::ReadyToDecide(Batch& batch) {
  // The log is known to be down: answer now rather than wait out its timeout.
  if (events::LogReachability log = log_.Reachability(); !log.reachable) {
    RefuseAll(batch, UnreachableLog(log));
    return false;
  }
  if (needs_recovery_) {
    Status recovered = RecoverState();
    if (!recovered.ok()) {
      RefuseAll(batch, Status::Unavailable(
                           fmt::format("partition {} cannot reload its state from the log: {}",
                                       partition_, recovered.message())));
      return false;
    }
    needs_recovery_ = false;
  }
  // Every answer, a replay's included, promises views that hold the command: refuse to
  // answer while this partition's views cannot be brought up to date (e.g. a halted
  // projector), and write nothing more to the log meanwhile.
  if (Status current = CatchUpViews(); !current.ok()) {
    RefuseAll(batch, Status(current.code(), fmt::format("partition {}'s views are not current: {}",
                                                        partition_, current.message())));
    return false;
  }
  // Checked after the catch-up, which may have read another node's newer claim.
  if (!writing()) {
    const events::PartitionClaim current = claim();
    RefuseAll(batch,
              Status::Unavailable(
                  current.node_id.empty()
                      ? fmt::format("partition {} has no writer yet; retry", partition_)
                      : fmt::format("partition {} is written by node '{}' ({}), not this one",
                                    partition_, current.node_id, current.advertise_url)));
    return false;
  }
  return true;
}

void PartitionWriter::RefuseAll(Batch& batch, const Status& why) {
  for (auto& pending : batch) Answer(*pending, why);
}

PartitionWriter::DecidedBatch PartitionWriter::DecideAll(Batch& batch, Micros now) {
  DecidedBatch decided;
  std::set<std::pair<std::string, std::string>> fresh;  // (org, command id) of this batch
  for (auto& pending : batch) {
    domain::OrgState& state = StateOf(pending->context.org);
    // Decided on top of events this batch has not written yet: stands or falls with them.
    auto earlier = decided.appends.find(pending->context.org);
    pending->depends_on_batch = earlier != decided.appends.end() && !earlier->second.empty();
    const std::string& command_id = pending->context.command_id;
    if (!command_id.empty()) {
      if (auto seen = state.commands.find(command_id); seen != state.commands.end()) {
        const std::string& hash = pending->context.command_hash;
        if (!hash.empty() && !seen->second.command_hash.empty() &&
            hash != seen->second.command_hash) {
          pending->outcome.kind = CommandOutcome::Kind::kRejected;
          pending->outcome.rejection =
              domain::Rejection{domain::RejectionCode::kIdempotencyKeyReused,
                                "this Idempotency-Key was used for a different request"};
          continue;
        }
        pending->outcome.kind = CommandOutcome::Kind::kReplayed;
        pending->outcome.aggregate_id = seen->second.aggregate_id;
        pending->outcome.first_event = seen->second.first_event;
        // A repeat of a command earlier in this very batch stands or falls with it.
        if (fresh.contains({pending->context.org, command_id})) pending->depends_on_batch = true;
        continue;
      }
    }
    if (Status recalled = RecallForgottenKey(state, pending->command, now); !recalled.ok()) {
      pending->failure = std::move(recalled);
      continue;
    }
    if (auto refusal = Refusal(state, *pending, now)) {
      pending->outcome.kind = CommandOutcome::Kind::kRejected;
      pending->outcome.rejection = std::move(*refusal);
      continue;
    }
    domain::Decision decision = domain::Decide(state, pending->command, now, options_.domain);
    if (auto* rejection = std::get_if<domain::Rejection>(&decision)) {
      pending->outcome.kind = CommandOutcome::Kind::kRejected;
      pending->outcome.rejection = std::move(*rejection);
      continue;
    }
    auto& events = std::get<std::vector<domain::NewEvent>>(decision);
    if (!command_id.empty() && !events.empty()) fresh.emplace(pending->context.org, command_id);
    StageEvents(state, *pending, std::move(events), now, decided);
  }
  return decided;
}

std::optional<domain::Rejection> PartitionWriter::Refusal(const domain::OrgState& state,
                                                          const Pending& pending, Micros now) {
  if (!pending.context.authorize) return std::nullopt;
  // Checked against the state Decide sees: no concurrent move can slip in between.
  auto principal = domain::PrincipalOf(state, pending.context, now);
  if (!principal) return std::nullopt;
  auto denial = domain::AuthorizeCommand(state, *principal, pending.command);
  if (!denial) return std::nullopt;
  return domain::Rejection{
      domain::RejectionCode::kForbidden,
      fmt::format("{}: {}", domain::DenialCodeName(denial->code), denial->message)};
}

void PartitionWriter::StageEvents(domain::OrgState& state, Pending& pending,
                                  std::vector<domain::NewEvent> events, Micros now,
                                  DecidedBatch& decided) {
  auto& org_events = decided.appends[pending.context.org];
  pending.first_event = org_events.size();
  pending.event_count = events.size();
  for (domain::NewEvent& event : events) {
    if (pending.outcome.aggregate_id.empty()) {
      pending.outcome.aggregate_id = event.aggregate_id;
      pending.outcome.first_event = event.payload.type;
    }
    if (ChangesDirectory(event.payload.type)) decided.directory_changed.insert(pending.context.org);
    fb::EnvelopeT envelope = domain::Stamp(pending.context, std::move(event), ids_.Next(), now);
    envelope.writer_epoch = epoch_;
    std::string bytes = events::Encode(envelope);
    if (pending.done && AnswersWithItsEvents(pending.command)) {
      pending.outcome.events.push_back(bytes);
    }
    // Apply now, so later commands of this batch see this one. If the append fails, the
    // state is rebuilt from the log before the next batch.
    auto decoded = events::Decode(bytes);
    if (decoded.ok()) timers_.Forget(**decoded, state);
    Status applied = decoded.ok() ? domain::Evolve(state, **decoded) : decoded.status();
    if (applied.ok()) timers_.Apply(**decoded, state);
    if (!applied.ok() && decided.broken.ok()) decided.broken = applied;
    org_events.push_back(std::move(bytes));
  }
}

PartitionWriter::Written PartitionWriter::AppendAll(DecidedBatch& decided) {
  // One append per org; the local log's group commit shares the sync among them. After
  // a failure nothing more is appended: the state already holds events that may not be
  // in the log.
  Written written;
  for (auto& [org, events] : decided.appends) {
    if (!decided.broken.ok()) {
      written.emplace(org, decided.broken);
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    auto offsets = log_.Append(org, events);
    append_latency_.Record(std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::steady_clock::now() - start)
                               .count());
    log_ok_.store(offsets.ok(), std::memory_order_relaxed);
    if (!offsets.ok()) decided.broken = offsets.status();
    if (offsets.ok() && !offsets->empty()) {
      NoteLogEnd(offsets->back() + 1);
      // Folded at staging; the fold (follow_log only) must not fold them again.
      if (options_.follow_log) own_pending_.insert(offsets->begin(), offsets->end());
    }
    written.emplace(org, std::move(offsets));
  }
  return written;
}

void PartitionWriter::AnswerAll(Batch& batch, const Written& written, const Status& projected) {
  for (auto& pending : batch) {
    if (!pending->failure.ok()) {
      Answer(*pending, std::move(pending->failure));
      continue;
    }
    if (pending->event_count == 0 && !pending->depends_on_batch) {
      Answer(*pending, std::move(pending->outcome));  // rejected, replayed, no-op
      continue;
    }
    const auto& offsets = written.at(pending->context.org);
    if (!offsets.ok()) {
      Answer(*pending, Status::Unavailable(fmt::format("the event log did not take the command: {}",
                                                       offsets.status().message())));
      continue;
    }
    if (!projected.ok()) {
      Answer(*pending,
             Status(projected.code(),
                    fmt::format("the command is durable but the views could not be updated: {}",
                                projected.message())));
      continue;
    }
    if (pending->event_count == 0) {  // its answer held only if the batch's writes did
      Answer(*pending, std::move(pending->outcome));
      continue;
    }
    pending->outcome.offsets.assign(offsets->begin() + pending->first_event,
                                    offsets->begin() + pending->first_event + pending->event_count);
    Answer(*pending, std::move(pending->outcome));
  }
}
}  // namespace keytrail
