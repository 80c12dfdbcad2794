// Any node takes any request (several nodes on one Kafka cluster): reads and verifies
// are answered from this node's replica, and a command for an org whose partition
// another node writes is sent on to that node (its advertised URL, from its claim in the
// log), one hop, with the caller's Authorization, Idempotency-Key, X-Request-Id, and a
// member's session cookie and X-CSRF-Token. The org is the path's {org}, a new org's id,
// a sign-in's org, or the org an invitation token or session cookie names. The writer's
// answer comes back unchanged (with its Set-Cookie), plus Keytrail-Served-By. A retried command
// with the same Idempotency-Key is answered, not applied twice, wherever it lands.
//
// A forwarded request carries Keytrail-Forwarded-By and is never forwarded again: if the
// partition moved meanwhile, the answer is 503 with Retry-After, as it is while no node
// writes the partition or its writer cannot be reached. Server-internal; thread-safe.
// ForwardToWriter waits for the other node: call it off the io threads.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "engine/engine.h"
#include "server/http.h"

namespace keytrail::server {

class NodeProof;

struct ForwardOptions {
  std::string node_id;  // this node, in Keytrail-Forwarded-By
  std::chrono::milliseconds timeout{10000};
  // Signs what this node forwards and checks what others forwarded (server/node_proof.h);
  // nullptr: no credentials stream, so no forwarded request is believed.
  const NodeProof* proof = nullptr;
};

// Whether another node of the cluster forwarded the request here: other nodes share the
// log, and it carries Keytrail-Forwarded-By with a valid Keytrail-Forwarded-Proof
// (node_proof.h). Otherwise it is a client's, whatever headers it sends (a client could
// set them to skip per-address limits).
bool IsForwarded(const ForwardOptions& options, const Engine& engine, const HttpRequest& request);

// Whether ForwardToWriter would send the request elsewhere (or refuse it): a command
// whose org's partition this node does not write. No I/O.
bool NeedsForwarding(const Engine& engine, const HttpRequest& request, std::string_view route,
                     std::string_view org);

// nullopt: handle the request here (it is no command, this node writes its org's
// partition, or its org is not known from the request). Otherwise the answer to send.
// `route` is the matched route pattern; `org` its {org} capture (empty if none).
std::optional<HttpResponse> ForwardToWriter(const Engine& engine, const ForwardOptions& options,
                                            const HttpRequest& request, std::string_view route,
                                            std::string_view org);

}  // namespace keytrail::server
