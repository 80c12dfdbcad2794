// Org setup and the first-start bootstrap of keytrail serve.
//
// Every org starts the same way: the org with its built-in groups "admin", "developer",
// "apikey-manager", "viewer" (CreateOrg creates them, each holding the matching
// organization-* rule; see engine/domain/roles.h), and one key "bootstrap-admin" in group
// "admin". Each step has a fixed command id inside the new org ("bootstrap:key"; the
// org's own id is the caller's), so running the setup again after a crash finishes it,
// and running it after it finished writes nothing and shows no secret.
//
// The setup's commands are not authorized by the writer (the new org has no principals
// yet): callers authorize org creation themselves (server/handlers/orgs.cc).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "engine/engine.h"
#include "events/event_log.h"

namespace keytrail::server {

// The ids of domain::BuiltinGroups(), in the same order.
inline constexpr std::array<std::string_view, 4> kBuiltInGroups = {"admin", "developer",
                                                                   "apikey-manager", "viewer"};
inline constexpr std::string_view kBootstrapKeyName = "bootstrap-admin";

// The command id of an org's first admin key. Never forgotten (ForgetCommandsBefore
// keeps "bootstrap:" ids): SetUpOrg tells a finished set-up from one cut short by it.
inline constexpr std::string_view kSetupKeyCommandId = "bootstrap:key";

// What SetUpOrg did.
struct OrgSetup {
  // Set if CreateOrg was refused (e.g. org_exists: the org was made by another command
  // id); nothing else was done then.
  std::optional<domain::Rejection> rejection;
  // The admin key. outcome kApplied: created now, token set (show it once). kReplayed:
  // created by an earlier run; its secret was already shown and is gone.
  IssuedKey admin_key;
};

// Sets up org `context.org` named `name`; `org_command_id` is CreateOrg's command id.
// `context` is the actor (and correlation id) of every step. Errors: the engine's, or
// kInternal if a step is refused in a way a setup cannot be (e.g. the admin key).
Result<OrgSetup> SetUpOrg(Engine& engine, domain::CommandContext context,
                          std::string org_command_id, std::string name);

// What Bootstrap did.
struct BootstrapResult {
  enum class Kind {
    kCreated,      // bootstrapped now: `token` is the bootstrap admin key, shown once
    kAlreadyDone,  // an earlier start bootstrapped this org; nothing secret to show
    kSkipped,      // not bootstrapped; `reason` says why
  };
  Kind kind = Kind::kSkipped;
  std::string key_id;
  std::optional<Secret> token;
  std::string reason;
};

// The first-start bootstrap of `org`: runs SetUpOrg (actor system "bootstrap", org
// command id "bootstrap:org") when the log is empty (writer claims aside), or when `org` already
// exists in the log (to finish a bootstrap cut short by a crash; a finished one is replayed and
// shows nothing). A non-empty log without `org` is not bootstrapped (kSkipped): that happens when
// --bootstrap-org changes between starts, and an extra admin key for a new org must not appear
// silently. Errors: the log's, the views', the engine's.
Result<BootstrapResult> Bootstrap(Engine& engine, events::EventLog& log, const std::string& org);

}  // namespace keytrail::server
