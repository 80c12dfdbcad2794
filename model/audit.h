// The read side's answer about the audit trail: one record, a filter, a page, and the
// report of a chain check. Plain data, no I/O. projections/audit_projection.h fills
// these; engine/queries.h hands them out; server/ renders them. docs/audit.md describes
// every field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/clock.h"

namespace keytrail::model {

// Which records of an org a query wants. Empty strings and zero times do not filter.
struct AuditFilter {
  std::string key;     // target key id
  std::string actor;   // actor id (key id or member id)
  std::string action;  // e.g. "api_key.revoked"
  Micros from = 0;     // occurred_at >= from
  Micros to = 0;       // occurred_at < to (0: no upper bound)
};

// One audit record. `stored` is the record exactly as stored and hash-chained (a JSON
// object with sorted keys, docs/audit.md); the other fields are read from it.
struct AuditRecord {
  struct Actor {
    std::string kind;  // key, member, system, scheduler, operator
    std::string id;
    std::string key_name;      // when kind == key
    std::string on_behalf_of;  // a member id, or empty
  };
  struct Target {
    std::string type;  // api_key, group, member, org, log_record
    std::string id;
  };

  std::string stored;
  int32_t partition = 0;
  int64_t offset = 0;
  Micros occurred_at_us = 0;
  std::string org;
  std::string action;
  std::string event_id;  // empty for a record of a skipped log record
  Actor actor;
  Target target;
  std::string details;  // the "details" object, as JSON text
  std::string prev_hash;
};

struct AuditPage {
  std::vector<AuditRecord> records;  // oldest first
  std::string next_page_token;       // empty: no more
};

// Where the chain first breaks, if it does.
struct AuditChainReport {
  uint64_t records = 0;  // records checked
  bool ok = true;
  int32_t partition = 0;  // of the first broken record, if !ok
  int64_t offset = 0;
  std::string problem;
};

}  // namespace keytrail::model
