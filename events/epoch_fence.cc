#include "events/epoch_fence.h"

#include <fmt/format.h>

#include "events/event_log.h"

namespace keytrail::events {

bool EpochFence::Admit(int64_t offset, const fb::Envelope& event) {
  if (event.payload_type() == fb::Payload::WriterClaimed) {
    const fb::WriterClaimed* claim = event.payload_as_WriterClaimed();
    // Exactly one above: epochs never jump (a claim near INT64_MAX would end all claims).
    if (claim->epoch() != claim_.epoch + 1 || event.writer_epoch() != claim->epoch()) {
      return false;
    }
    claim_.epoch = claim->epoch();
    claim_.offset = offset;
    claim_.node_id = claim->node_id() ? claim->node_id()->str() : std::string();
    claim_.advertise_url = claim->advertise_url() ? claim->advertise_url()->str() : std::string();
    return true;
  }
  // Uses of keys may come from any node (each notes what its verification saw): they
  // decide nothing but when a key was last used, and folding them is a maximum.
  if (event.payload_type() == fb::Payload::KeysUsed) return true;
  return event.writer_epoch() == claim_.epoch;
}

std::string ClaimKeyFor(int32_t partition, int32_t partition_count) {
  for (int n = 0;; ++n) {
    std::string key = fmt::format("keytrail.writer.{}.{}", partition, n);
    if (PartitionForKey(key, partition_count) == partition) return key;
  }
}

}  // namespace keytrail::events
