// CredentialStore: the credentials stream (schemas/credentials.fbs), held in memory.
//
// Member sign-in needs secret-derived material: the hash of an invitation's secret, a
// password's Argon2id hash, the hash of a session's secret. It lives on its own log (the
// embedded log's `credentials/` directory, or the Kafka topic `keytrail.credentials`),
// never on the events topic, so no consumer of the events holds it. Every node reads the
// whole stream at start and follows it, so any node can check a password or a session.
//
// A record proves nothing by itself: it counts only once the org's events name it
// (MemberPasswordSet.credential_id, MemberSignedIn.session_id, MemberInvited.
// invitation_id). So a record whose fact never made it to the events is harmless, and
// Put comes first: the fact is appended only after the record is durable.
//
// Thread-safe. Records that expired are dropped from memory.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "base/clock.h"
#include "base/status.h"
#include "events/event_log.h"

namespace keytrail {

enum class CredentialKind : uint8_t {
  kInvitation = 1,
  kPassword = 2,
  kSession = 3,
  kClientSecret = 4,   // an org's OpenID Connect client secret, in clear (schemas/credentials.fbs)
  kClusterSecret = 5,  // the nodes' key for proving forwarded requests (server/node_proof.h)
};

// One record of the stream: a hash that proves a member's invitation, password or
// session, named by `id` in the org's events.
struct Credential {
  std::string id;
  std::string org;
  std::string member_id;
  CredentialKind kind = CredentialKind::kSession;
  std::string hash;       // see schemas/credentials.fbs
  Micros expires_at = 0;  // 0 = never
};

class CredentialStore {
 public:
  // Reads every partition of `log` from its start (waiting up to `wait` for records the
  // log says it holds), then follows it on a thread of its own: records appear here
  // within ~50 ms of being durable. A record this build cannot read (corrupt, or of a
  // kind a newer keytrail wrote) is skipped and counted (skipped()), at start and after,
  // alike; read errors while following are retried every 100 ms and counted. Borrows log
  // and clock; they must outlive the store. Errors: the log's.
  static Result<std::unique_ptr<CredentialStore>> Open(
      events::EventLog& log, const Clock& clock,
      std::chrono::milliseconds wait = std::chrono::seconds(10));
  ~CredentialStore();
  CredentialStore(const CredentialStore&) = delete;
  CredentialStore& operator=(const CredentialStore&) = delete;

  // Appends `credential` to the stream (keyed by its org) and returns once it is
  // durable; it can be found here at once.
  Status Put(const Credential& credential);
  // The credential `id` of `org`, unless unknown or expired.
  std::optional<Credential> Find(std::string_view org, std::string_view id) const;
  // Credentials held in memory.
  size_t size() const;
  // Records skipped as unreadable, and read errors while following.
  size_t skipped() const { return skipped_.load(std::memory_order_relaxed); }
  size_t read_errors() const { return read_errors_.load(std::memory_order_relaxed); }

 private:
  CredentialStore(events::EventLog& log, const Clock& clock) : log_(log), clock_(clock) {}
  void Insert(Credential credential);
  void Apply(const events::LogRecord& record);  // decode, then Insert or count as skipped
  void Follow();

  events::EventLog& log_;
  const Clock& clock_;
  std::vector<std::unique_ptr<events::LogReader>> readers_;  // the follower thread's
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, Credential> by_id_;  // guarded by mu_
  std::atomic<bool> stop_{false};
  std::atomic<size_t> skipped_{0};
  std::atomic<size_t> read_errors_{0};
  std::thread follower_;
};

}  // namespace keytrail
