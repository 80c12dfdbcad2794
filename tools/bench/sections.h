// The benchmark sections of keytrail_bench; each prints JSON result lines.
#pragma once

#include <cstdint>
#include <string>

namespace keytrail::bench {

struct Args {
  double seconds = 3;             // measuring time per configuration
  int64_t events = 1'000'000;     // log size for the projector, rebuild and audit-query sections
  int64_t keys = 1'000'000;       // keys for the verify and memory sections
  int64_t expiry_keys = 100'000;  // keys expiring together in the expiry-burst section
};

int RunLocalAppend(const Args& args);
int RunKafkaAppend(const Args& args);
// Three nodes on one (mock) Kafka cluster: revoke and create propagation.
int RunPropagation(const Args& args);
int RunProjector(const Args& args);
// section: "verify", "create", "memory" or "memory-expiring".
int RunKeys(const Args& args, const std::string& section);
// section: "expiry-burst" or "expiry-steady".
int RunExpiry(const Args& args, const std::string& section);
// domain::Authorize in process.
int RunAuthorize(const Args& args);
// The "rebuild" and/or "audit-query" sections, sharing one generated data set.
int RunAudit(const Args& args, bool rebuild, bool query);

}  // namespace keytrail::bench
