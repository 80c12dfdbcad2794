// The keytrail CLI's subcommands. Each Add* registers one subcommand on `app`; when it
// runs, it stores its exit code in *rc.
#pragma once

namespace CLI {
class App;
}

namespace keytrail::cli {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRejected = 1;     // rejected or invalid
inline constexpr int kExitUsage = 2;        // bad command line
inline constexpr int kExitUnavailable = 3;  // server or broker unreachable or failing (5xx), or
                                            // failed to start

// keytrail dev-kafka: a librdkafka mock cluster on loopback until interrupted.
void AddDevKafka(CLI::App& app, int* rc);

// keytrail serve: the engine behind the HTTP API until SIGINT or SIGTERM.
void AddServe(CLI::App& app, int* rc);

// Client subcommands, talking to a running `keytrail serve` (--server / KEYTRAIL_SERVER,
// --token / KEYTRAIL_TOKEN): keys create|list|get|rotate|revoke|move, orgs create, and
// verify.
void AddKeys(CLI::App& app, int* rc);
void AddOrgs(CLI::App& app, int* rc);
void AddVerify(CLI::App& app, int* rc);
void AddAudit(CLI::App& app, int* rc);
// groups create|list|get|set-rules|delete, members set|list|remove, authorize.
void AddGroups(CLI::App& app, int* rc);

// Operator subcommands, working on a data directory (and Kafka) directly, not through a
// server (docs/operations.md): log dump, rebuild, check, projector skip.
void AddLogDump(CLI::App& app, int* rc);
void AddRebuild(CLI::App& app, int* rc);
void AddCheck(CLI::App& app, int* rc);
void AddProjector(CLI::App& app, int* rc);

}  // namespace keytrail::cli
