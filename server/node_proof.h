// NodeProof: how a node shows that a request it forwards comes from a node of this
// cluster. Forwarded requests are believed (Keytrail-Forwarded-By: their client was
// counted by the first node, which skips per-address limits here), so the header alone
// must not be enough: the forwarding node adds
//
//   Keytrail-Forwarded-Proof: <unix seconds>.<hex HMAC-SHA256(secret, node \n method \n
//                                            target \n seconds \n SHA-256(body))>
//
// with the cluster's secret, which lives on the credentials stream (one record, org
// "keytrail.cluster"; the first node to start writes it, every node reads it), and the
// receiver checks it within a minute of its clock. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/status.h"
#include "engine/credential_store.h"
#include "server/http.h"

namespace keytrail::server {

inline constexpr std::string_view kForwardedProofHeader = "keytrail-forwarded-proof";

class NodeProof {
 public:
  // Uses the cluster's secret on `credentials`, writing one first if there is none.
  // Borrows both; they must outlive the proof.
  static Result<std::unique_ptr<NodeProof>> Open(CredentialStore& credentials, const Clock& clock);

  // The proof header's value for a request `node` forwards.
  std::string Sign(std::string_view node, std::string_view method, std::string_view target,
                   std::string_view body) const;
  // Whether `request` carries a valid proof for the node its Keytrail-Forwarded-By names.
  bool Verify(const HttpRequest& request) const;

 private:
  NodeProof(CredentialStore& credentials, const Clock& clock)
      : credentials_(credentials), clock_(clock) {}
  std::string Mac(std::string_view secret, std::string_view node, std::string_view method,
                  std::string_view target, int64_t seconds, std::string_view body) const;

  CredentialStore& credentials_;
  const Clock& clock_;
};

}  // namespace keytrail::server
