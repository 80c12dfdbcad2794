#include "server/bootstrap.h"

#include <chrono>

#include <fmt/format.h>

#include "events/codec.h"

namespace keytrail::server {
namespace {

using Kind = CommandOutcome::Kind;

// True if the log holds no event but writer claims (several nodes claim their
// partitions before anyone bootstraps). Reads each partition up to its first other event.
// A fresh Kafka reader may take seconds to fetch its first records on a loaded machine;
// only kMaxIdleReads empty reads in a row (seconds) fail the call.
Result<bool> LogIsEmpty(events::EventLog& log) {
  constexpr size_t kReadBatch = 64;
  constexpr int kMaxIdleReads = 30;  // one second each
  for (int32_t p = 0; p < log.PartitionCount(); ++p) {
    auto end = log.EndOffset(p);
    if (!end.ok()) return end.status();
    if (*end == 0) continue;
    auto reader = log.OpenReader(p, 0);
    if (!reader.ok()) return reader.status();
    int idle = 0;
    for (int64_t next = 0; next < *end;) {
      auto records = (*reader)->Next(kReadBatch, std::chrono::seconds(1));
      if (!records.ok()) return records.status();
      if (records->empty()) {
        if (++idle == kMaxIdleReads) {
          return Status::Unavailable(
              fmt::format("partition {}: offset {} of {} never arrived", p, next, *end));
        }
        continue;
      }
      idle = 0;
      for (const events::LogRecord& record : *records) {
        auto event = events::Decode(record.value);
        if (!event.ok() || (*event)->payload_type() != fb::Payload::WriterClaimed) return false;
        next = record.offset + 1;
      }
    }
  }
  return true;
}

}  // namespace

Result<OrgSetup> SetUpOrg(Engine& engine, domain::CommandContext context,
                          std::string org_command_id, std::string name) {
  OrgSetup setup;
  context.command_id = std::move(org_command_id);
  auto org = engine.Execute(context, domain::CreateOrg{name});
  if (!org.ok()) return org.status();
  // org_exists: the org and all its built-in groups exist. Whether its set-up finished
  // is told by its first admin key ("bootstrap:key", never forgotten): if it was never
  // made, the creation was cut short before it, and this call finishes it, so no retry,
  // with or without an Idempotency-Key, leaves an org nobody can administer.
  const bool existed =
      org->kind == Kind::kRejected && org->rejection->code == domain::RejectionCode::kOrgExists;
  if (org->kind == Kind::kRejected && !existed) {
    setup.rejection = org->rejection;
    return setup;
  }
  if (org->kind == Kind::kReplayed && org->first_event != fb::Payload::OrgCreated &&
      org->first_event != fb::Payload::GroupCreated) {
    setup.rejection = domain::Rejection{domain::RejectionCode::kOrgExists,
                                        "the command id was used for another command"};
    return setup;
  }
  if (org->kind == Kind::kReplayed) {
    // A retry whose first attempt may have been cut short among the built-in groups:
    // CreateOrg without a command id creates the missing ones (or is org_exists).
    domain::CommandContext complete = context;
    complete.command_id.clear();
    auto completed = engine.Execute(complete, domain::CreateOrg{name});
    if (!completed.ok()) return completed.status();
  }
  context.command_id = std::string(kSetupKeyCommandId);
  CreateKeyRequest key;
  key.name = std::string(kBootstrapKeyName);
  key.group = "admin";
  auto issued = engine.CreateKey(context, std::move(key));
  if (!issued.ok()) return issued.status();
  if (issued->outcome.kind == Kind::kRejected) {
    return Status::Internal(fmt::format("setting up org {}: the admin key was refused: {}",
                                        context.org, issued->outcome.rejection->message));
  }
  if (existed && issued->outcome.kind == Kind::kReplayed) {
    setup.rejection = org->rejection;  // set up before: a plain org_exists
    return setup;
  }
  setup.admin_key = std::move(issued).value();
  return setup;
}

Result<BootstrapResult> Bootstrap(Engine& engine, events::EventLog& log, const std::string& org) {
  BootstrapResult result;
  auto empty = LogIsEmpty(log);
  if (!empty.ok()) return empty.status();
  if (!*empty) {
    auto exists = engine.queries().OrgExists(org);
    if (!exists.ok()) return exists.status();
    if (!*exists) {
      result.reason = fmt::format(
          "the log holds events but no org '{}'; not bootstrapping it (was --bootstrap-org "
          "different on the first start?)",
          org);
      return result;
    }
  }
  domain::CommandContext context{.org = org,
                                 .actor_kind = fb::ActorKind::System,
                                 .actor_id = "bootstrap",
                                 .correlation_id = "bootstrap",
                                 .authorize = false};
  auto setup = SetUpOrg(engine, context, "bootstrap:org", org);
  if (!setup.ok()) return setup.status();
  if (setup->rejection) {
    result.reason = fmt::format("org '{}' was not created by a bootstrap ({}); not bootstrapping",
                                org, domain::RejectionCodeName(setup->rejection->code));
    return result;
  }
  result.key_id = setup->admin_key.key_id;
  if (setup->admin_key.outcome.kind == Kind::kApplied) {
    result.kind = BootstrapResult::Kind::kCreated;
    result.token = std::move(setup->admin_key.token);
  } else {
    result.kind = BootstrapResult::Kind::kAlreadyDone;
  }
  return result;
}

}  // namespace keytrail::server
