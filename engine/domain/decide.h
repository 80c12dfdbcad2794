// Decide: the pure function at the heart of the write path.
//
//   Decide(state, command, now, options) -> events | rejection
//
// It reads nothing but its arguments (time comes in as `now`, randomness inside the
// command), so it is trivially testable: Given(events) / When(command) / Then(events or
// rejection). A rejection is a domain answer, not an error: it maps to a 4xx in one place.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/domain/commands.h"
#include "engine/domain/org_state.h"
#include "engine/domain/rejection.h"
#include "schemas/events_generated.h"

namespace keytrail::domain {

// One event to append: the payload plus the aggregate it belongs to. The writer wraps
// it in an Envelope (id, org, time, actor, command id).
struct NewEvent {
  std::string aggregate_id;
  uint64_t aggregate_version = 0;
  fb::PayloadUnion payload;
};

using Decision = std::variant<std::vector<NewEvent>, Rejection>;

struct DomainOptions {
  size_t max_active_keys = 200;  // per org
};

Decision Decide(const OrgState& state, const Command& command, Micros now,
                const DomainOptions& options);

// Who asked, and the ids that tie a command's events together.
struct CommandContext {
  std::string org;
  fb::ActorKind actor_kind = fb::ActorKind::System;
  std::string actor_id;
  std::string on_behalf_of;  // member a trusted front end acts for; empty if none
  std::string command_id;    // idempotency key; empty = none
  // What the command id stands for (a hash of the request): a retry has the same; the
  // same id with another hash is refused kIdempotencyKeyReused. Empty = not compared.
  std::string command_hash;
  std::string correlation_id;
  // Whether the writer checks AuthorizeCommand for the actor before deciding (a refusal
  // is the rejection kForbidden). On unless a caller turns it off, explicitly, for a
  // command it has authorized itself or that no principal issues (the bootstrap, org
  // creation, the scheduler, tools and tests that act as the system): forgetting it
  // fails closed. Not recorded.
  bool authorize = true;
};

// Wraps a decided event in its envelope.
fb::EnvelopeT Stamp(const CommandContext& context, NewEvent event, const fb::EventId& id,
                    Micros now);

}  // namespace keytrail::domain
