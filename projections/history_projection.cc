#include "projections/history_projection.h"

#include <fmt/format.h>

#include "base/big_endian.h"
#include "projections/row_key.h"

namespace keytrail::projections {
namespace {

std::string AggregatePrefix(std::string_view org, std::string_view aggregate_id) {
  std::string key = "hist/";
  PutComponent(&key, org);
  PutComponent(&key, aggregate_id);
  return key;
}

}  // namespace

Status HistoryProjection::Apply(const LogPosition& position, const fb::Envelope& event,
                                ViewBatch& batch) {
  const std::string_view org = event.org()->string_view();
  const std::string_view aggregate = event.aggregate_id()->string_view();
  if (org.size() > 0xffff || aggregate.size() > 0xffff) {
    return Status::InvalidArgument("org or aggregate id longer than 65535 bytes");
  }
  std::string key = AggregatePrefix(org, aggregate);
  PutBigEndian64(&key, static_cast<uint64_t>(position.offset));
  std::string value(1, static_cast<char>(event.payload_type()));
  PutBigEndian64(&value, static_cast<uint64_t>(event.occurred_at_us()));
  batch.Put(key, value);
  return Status::Ok();
}

Result<std::vector<HistoryProjection::Entry>> HistoryProjection::Read(
    ViewStore& store, std::string_view org, std::string_view aggregate_id) {
  const std::string begin = AggregatePrefix(org, aggregate_id);
  std::string end = begin;
  end.append(8, '\xff');
  end.push_back('\xff');
  std::vector<Entry> out;
  Status corrupt;
  Status s = store.Scan(begin, end, [&](std::string_view key, std::string_view value) {
    if (key.size() != begin.size() + 8 || value.size() != 9) {
      corrupt = Status::Corruption("history row is malformed");
      return false;
    }
    out.push_back({static_cast<int64_t>(GetBigEndian64(key.substr(begin.size()))),
                   static_cast<fb::Payload>(value[0]),
                   static_cast<int64_t>(GetBigEndian64(value.substr(1)))});
    return true;
  });
  KT_RETURN_IF_ERROR(s);
  KT_RETURN_IF_ERROR(corrupt);
  return out;
}

}  // namespace keytrail::projections
