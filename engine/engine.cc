#include "engine/engine.h"

#include <future>

#include <fmt/format.h>

#include "base/thread_name.h"
#include "events/codec.h"
#include "projections/projector.h"
#include "projections/view_set.h"

namespace keytrail {
namespace {

// Runs an asynchronous command and waits for its answer.
template <typename T, typename Start>
Result<T> Wait(Start start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto answer = promise->get_future();
  start([promise](Result<T> result) { promise->set_value(std::move(result)); });
  return answer.get();
}

}  // namespace

// Everything one partition's writer owns.
struct Engine::Partition {
  projections::ViewSet views;
  std::unique_ptr<projections::Projector> projector;
  std::unique_ptr<PartitionWriter> writer;

  explicit Partition(projections::KeyViewListener listener) : views(std::move(listener)) {}
};

namespace {

uint64_t SeedFrom(Random& random) {
  uint64_t seed = 0;
  random.Fill({reinterpret_cast<uint8_t*>(&seed), sizeof(seed)});
  return seed;
}

}  // namespace

Engine::Engine(events::EventLog& log, projections::ViewStore& views, const Clock& clock,
               Options options)
    : log_(log),
      views_(views),
      clock_(clock),
      options_(std::move(options)),
      random_(options_.random ? *options_.random : SystemRandom()),
      advertise_url_(options_.advertise_url),
      queries_(log, views),
      tokens_(options_.token_prefix),
      index_(/*track_retirements=*/options_.retired_key_window > 0),
      ids_(clock, SeedFrom(random_)) {}

Engine::~Engine() {
  if (flusher_.joinable()) {
    {
      std::lock_guard lock(flush_mu_);
      stopping_ = true;
    }
    flush_cv_.notify_all();
    flusher_.join();
  }
  for (auto& partition : partitions_) partition->writer->Stop();
}

size_t Engine::ForgetRetiredKeys() {
  if (options_.retired_key_window == 0) return 0;
  return index_.ForgetRetiredBefore(clock_.NowMicros() - options_.retired_key_window);
}

void Engine::FlushKeyUse() {
  for (auto& [org, uses] : key_use_.Take(clock_.NowMicros())) {
    domain::CommandContext context{.org = org,
                                   .actor_kind = fb::ActorKind::System,
                                   .actor_id = "key-usage",
                                   .authorize = false};  // the system notes, no principal
    const Writer writer = WriterOf(org);
    if (writer.self) {
      (void)Execute(context, domain::RecordKeyUse{std::move(uses)});  // lost if the log is down
    } else {
      (void)AppendKeyUse(context, writer.claim.epoch, uses);
    }
  }
}

// Uses of keys of an org another node writes: appended here, outside that node's
// writer, which the fence allows for KeysUsed alone (events/epoch_fence.h). The org's
// replica here may lag; keys it does not know yet are kept, and every reader skips
// those its org does not have.
Status Engine::AppendKeyUse(const domain::CommandContext& context, int64_t epoch,
                            const KeyUsage::Uses& uses) {
  fb::KeysUsedT payload;
  for (const auto& [id, at] : uses) {
    auto use = std::make_unique<fb::KeyUsedT>();
    use->key_id = FormatKeyId(id);
    use->used_at_us = at;
    payload.uses.push_back(std::move(use));
  }
  if (payload.uses.empty()) return Status::Ok();
  domain::NewEvent event;
  event.aggregate_id = context.org;
  event.payload.Set(std::move(payload));
  fb::EnvelopeT envelope =
      domain::Stamp(context, std::move(event), ids_.Next(), clock_.NowMicros());
  envelope.writer_epoch = epoch;
  const std::string encoded[] = {events::Encode(envelope)};
  auto appended = log_.Append(context.org, encoded);
  return appended.ok() ? Status::Ok() : appended.status();
}

Result<std::unique_ptr<Engine>> Engine::Start(events::EventLog& log, projections::ViewStore& views,
                                              const Clock& clock, Options options) {
  std::unique_ptr<Engine> engine(new Engine(log, views, clock, std::move(options)));
  KT_RETURN_IF_ERROR(
      engine->index_.RebuildFrom(views, clock.NowMicros(), engine->options_.retired_key_window));
  for (int32_t p = 0; p < log.PartitionCount(); ++p) {
    auto partition = std::make_unique<Partition>(engine->index_.Listener());
    partition->projector =
        std::make_unique<projections::Projector>(log, views, partition->views.projections());
    PartitionWriter::Options writer_options;
    writer_options.domain = engine->options_.domain;
    writer_options.follow_log = engine->options_.follow_log;
    writer_options.node_id = engine->options_.node_id;
    writer_options.max_queued = engine->options_.max_queued_commands;
    writer_options.idempotency_window = engine->options_.idempotency_window;
    writer_options.retired_key_window = engine->options_.retired_key_window;
    partition->writer = std::make_unique<PartitionWriter>(p, log, *partition->projector, clock,
                                                          engine->ids_, writer_options);
    KT_RETURN_IF_ERROR(partition->writer->Start());
    engine->partitions_.push_back(std::move(partition));
  }
  // Housekeeping: key uses written down every key_use_flush, long-retired keys removed
  // from the index every retired_key_sweep (each only if on).
  const auto flush = std::chrono::microseconds(engine->options_.key_use_flush);
  const auto sweep = std::chrono::microseconds(
      engine->options_.retired_key_window > 0 ? engine->options_.retired_key_sweep : 0);
  if (flush.count() > 0 || sweep.count() > 0) {
    Engine* e = engine.get();
    e->flusher_ = std::thread([e, flush, sweep] {
      NameThisThread("kt-usage-flush");
      using Clock = std::chrono::steady_clock;
      constexpr auto kNever = Clock::time_point::max();
      Clock::time_point next_flush = flush.count() > 0 ? Clock::now() + flush : kNever;
      Clock::time_point next_sweep = sweep.count() > 0 ? Clock::now() + sweep : kNever;
      std::unique_lock lock(e->flush_mu_);
      while (!e->flush_cv_.wait_until(lock, std::min(next_flush, next_sweep),
                                      [e] { return e->stopping_; })) {
        lock.unlock();
        if (Clock::now() >= next_flush) {
          e->FlushKeyUse();
          next_flush = Clock::now() + flush;
        }
        if (Clock::now() >= next_sweep) {
          e->ForgetRetiredKeys();
          next_sweep = Clock::now() + sweep;
        }
        lock.lock();
      }
    });
  }
  return engine;
}

void Engine::Execute(const domain::CommandContext& context, domain::Command command,
                     CommandCallback done) {
  if (context.org.empty()) return done(Status::InvalidArgument("a command needs an org"));
  if (events::LogReachability log = log_.Reachability(); !log.reachable) {
    return done(UnreachableLog(log));  // at once: no queue, no wait for the log's timeout
  }
  PartitionWriter& writer = *partitions_[log_.PartitionFor(context.org)]->writer;
  writer.Submit(context, std::move(command), std::move(done));
}

Result<CommandOutcome> Engine::Execute(const domain::CommandContext& context,
                                       domain::Command command) {
  return Wait<CommandOutcome>(
      [&](CommandCallback done) { Execute(context, std::move(command), std::move(done)); });
}

void Engine::Issue(const domain::CommandContext& context, IssuedToken token,
                   domain::Command command, IssuedCallback done) {
  // The token waits in the callback (shared: std::function copies) until the answer.
  auto minted = std::make_shared<IssuedToken>(std::move(token));
  Execute(context, std::move(command),
          [minted, done = std::move(done)](Result<CommandOutcome> outcome) {
            if (!outcome.ok()) return done(outcome.status());
            IssuedKey issued;
            issued.outcome = std::move(outcome).value();
            switch (issued.outcome.kind) {
              case CommandOutcome::Kind::kApplied:
                issued.key_id = FormatKeyId(minted->key_id);
                issued.hint = std::move(minted->hint);
                issued.token = std::move(minted->token);
                break;
              case CommandOutcome::Kind::kReplayed:
                issued.key_id = issued.outcome.aggregate_id;
                break;
              case CommandOutcome::Kind::kRejected:
                break;
            }
            done(std::move(issued));
          });
}

void Engine::CreateKey(const domain::CommandContext& context, CreateKeyRequest request,
                       IssuedCallback done) {
  IssuedToken token = tokens_.Issue(random_, NewKeyId(random_, clock_.NowMicros()));
  domain::CreateKey command;
  command.key_id = token.key_id;
  command.name = std::move(request.name);
  command.group = std::move(request.group);
  command.expires = request.expires;
  command.permissions = std::move(request.permissions);
  command.secret_hash = token.hash;
  command.hint = token.hint;
  // A key made on behalf of a member is that member's own key (see domain/authorize.h).
  command.created_by = context.on_behalf_of.empty() ? context.actor_id : context.on_behalf_of;
  Issue(context, std::move(token), std::move(command), std::move(done));
}

Result<IssuedKey> Engine::CreateKey(const domain::CommandContext& context,
                                    CreateKeyRequest request) {
  return Wait<IssuedKey>(
      [&](IssuedCallback done) { CreateKey(context, std::move(request), std::move(done)); });
}

void Engine::RotateKey(const domain::CommandContext& context, const KeyId& key_id, Micros grace,
                       std::optional<domain::Expiration> renew, IssuedCallback done) {
  IssuedToken token = tokens_.Issue(random_, key_id);
  domain::RotateKey command;
  command.key_id = key_id;
  command.new_secret_hash = token.hash;
  command.hint = token.hint;
  command.grace = grace;
  command.expires = renew;
  Issue(context, std::move(token), std::move(command), std::move(done));
}

Result<IssuedKey> Engine::RotateKey(const domain::CommandContext& context, const KeyId& key_id,
                                    Micros grace) {
  return Wait<IssuedKey>(
      [&](IssuedCallback done) { RotateKey(context, key_id, grace, std::move(done)); });
}

void Engine::WakeSchedulers() {
  for (auto& partition : partitions_) partition->writer->Wake();
}

void Engine::WaitIdle() {
  for (auto& partition : partitions_) partition->writer->WaitIdle();
}

Engine::Writer Engine::WriterOf(std::string_view org) const {
  const PartitionWriter& writer = *partitions_[log_.PartitionFor(org)]->writer;
  return Writer{.partition = writer.partition(), .self = writer.writing(), .claim = writer.claim()};
}

void Engine::Claim(const std::vector<int32_t>& partitions) {
  std::string url;
  {
    std::lock_guard lock(advertise_mu_);
    url = advertise_url_;
  }
  for (int32_t p : partitions) {
    if (p >= 0 && p < static_cast<int32_t>(partitions_.size())) partitions_[p]->writer->Claim(url);
  }
}

void Engine::SetAdvertiseUrl(std::string url) {
  std::lock_guard lock(advertise_mu_);
  advertise_url_ = std::move(url);
}

void Engine::Release(const std::vector<int32_t>& partitions) {
  for (int32_t p : partitions) {
    if (p >= 0 && p < static_cast<int32_t>(partitions_.size())) partitions_[p]->writer->Release();
  }
}

std::vector<WriterHealth> Engine::writer_health() const {
  std::vector<WriterHealth> out;
  out.reserve(partitions_.size());
  for (const auto& partition : partitions_) out.push_back(partition->writer->health());
  return out;
}

Status Engine::CheckReady(int64_t max_lag) {
  if (events::LogReachability log = log_.Reachability(); !log.reachable) {
    return Status::Unavailable(log.reason);
  }
  for (const auto& partition : partitions_) {
    PartitionWriter& writer = *partition->writer;
    auto end = log_.EndOffset(writer.partition());
    if (!end.ok()) {
      return Status::Unavailable(fmt::format("the event log does not answer for partition {}: {}",
                                             writer.partition(), end.status().message()));
    }
    writer.NoteLogEnd(*end);
    const WriterHealth health = writer.health();
    if (!health.views_current) {
      return Status::Unavailable(
          fmt::format("partition {}'s views are halted at offset {}; see the log for the cause",
                      writer.partition(), health.applied_offset));
    }
    if (*end - health.applied_offset > max_lag) {
      return Status::Unavailable(fmt::format("partition {}'s views are {} events behind the log",
                                             writer.partition(), *end - health.applied_offset));
    }
  }
  return Status::Ok();
}

SchedulerStats Engine::scheduler_stats() const {
  SchedulerStats total;
  for (const auto& partition : partitions_) total.Add(partition->writer->scheduler_stats());
  return total;
}

std::shared_ptr<const domain::GroupDirectory> Engine::Groups(std::string_view org) const {
  static const auto empty = std::make_shared<const domain::GroupDirectory>();
  auto directory = partitions_[log_.PartitionFor(org)]->writer->Directory(org);
  return directory ? directory : empty;
}

Authorization Engine::Authorize(std::string_view org, const domain::Principal& principal,
                                domain::Action action, const domain::Resource& resource) const {
  Authorization out;
  out.directory = Groups(org);
  out.decision = domain::Authorize(*out.directory, principal, action, resource);
  return out;
}

VerifyResult Engine::Verify(std::string_view token) const {
  return VerifyAt(token, clock_.NowMicros());
}

VerifyResult Engine::Identify(std::string_view token) const {
  return index_.Verify(tokens_, token, clock_.NowMicros());
}

VerifyResult Engine::VerifyAt(std::string_view token, Micros now) const {
  VerifyResult result = index_.Verify(tokens_, token, now);
  if (result.first_use_in_minute) key_use_.Note(result.org, result.key_id, now);
  return result;
}

}  // namespace keytrail
