#include "engine/credential_store.h"

#include <flatbuffers/flatbuffers.h>

#include <mutex>

#include "base/thread_name.h"
#include "schemas/credentials_generated.h"

namespace keytrail {
namespace {

constexpr size_t kReadBatch = 1024;
constexpr auto kFollowWait = std::chrono::milliseconds(50);
constexpr Micros kPruneEvery = 60LL * 1'000'000;

std::string Encode(const Credential& c, Micros now) {
  fb::CredentialT object;
  object.id = c.id;
  object.org = c.org;
  object.member_id = c.member_id;
  object.kind = static_cast<fb::CredentialKind>(c.kind);
  object.hash = c.hash;
  object.expires_at_us = c.expires_at;
  object.created_at_us = now;
  flatbuffers::FlatBufferBuilder builder(256);
  builder.Finish(fb::Credential::Pack(builder, &object), fb::CredentialIdentifier());
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

Result<Credential> Decode(const std::string& bytes) {
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (!fb::VerifyCredentialBuffer(verifier)) {
    return Status::Corruption("a credentials record fails verification");
  }
  const fb::Credential* record = fb::GetCredential(bytes.data());
  if (record->id() == nullptr || record->org() == nullptr || record->hash() == nullptr ||
      record->kind() == fb::CredentialKind::Unknown ||
      static_cast<uint8_t>(record->kind()) > static_cast<uint8_t>(fb::CredentialKind::MAX)) {
    return Status::Corruption("a credentials record without id, org, hash or a known kind");
  }
  Credential c;
  c.id = record->id()->str();
  c.org = record->org()->str();
  c.member_id = record->member_id() ? record->member_id()->str() : std::string();
  c.kind = static_cast<CredentialKind>(record->kind());
  c.hash = record->hash()->str();
  c.expires_at = record->expires_at_us();
  return c;
}

std::string MapKey(std::string_view org, std::string_view id) {
  std::string key;
  key.reserve(org.size() + id.size() + 1);
  key.append(org).push_back('/');
  key.append(id);
  return key;
}

}  // namespace

Result<std::unique_ptr<CredentialStore>> CredentialStore::Open(events::EventLog& log,
                                                               const Clock& clock,
                                                               std::chrono::milliseconds wait) {
  std::unique_ptr<CredentialStore> store(new CredentialStore(log, clock));
  for (int32_t p = 0; p < log.PartitionCount(); ++p) {
    auto reader = log.OpenReader(p, 0);
    if (!reader.ok()) return reader.status();
    store->readers_.push_back(std::move(reader).value());
  }
  // Read what the stream holds now: every partition up to its end offset.
  for (int32_t p = 0; p < log.PartitionCount(); ++p) {
    auto end = log.EndOffset(p);
    if (!end.ok()) return end.status();
    int64_t read = 0;
    while (read < *end) {
      auto records = store->readers_[p]->Next(kReadBatch, wait);
      if (!records.ok()) return records.status();
      if (records->empty()) {
        return Status::Unavailable("the credentials stream did not deliver its records in time");
      }
      for (const events::LogRecord& record : *records) {
        read = record.offset + 1;
        store->Apply(record);
      }
    }
  }
  store->follower_ = std::thread([s = store.get()] {
    NameThisThread("kt-credentials");
    s->Follow();
  });
  return store;
}

CredentialStore::~CredentialStore() {
  stop_ = true;
  for (auto& reader : readers_) reader->Wake();
  if (follower_.joinable()) follower_.join();
}

Status CredentialStore::Put(const Credential& credential) {
  const std::string encoded = Encode(credential, clock_.NowMicros());
  auto offsets = log_.Append(credential.org, std::span<const std::string>(&encoded, 1));
  if (!offsets.ok()) return offsets.status();
  Insert(credential);
  return Status::Ok();
}

std::optional<Credential> CredentialStore::Find(std::string_view org, std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(MapKey(org, id));
  if (it == by_id_.end()) return std::nullopt;
  if (it->second.expires_at != 0 && it->second.expires_at <= clock_.NowMicros()) {
    return std::nullopt;
  }
  return it->second;
}

size_t CredentialStore::size() const {
  std::shared_lock lock(mu_);
  return by_id_.size();
}

void CredentialStore::Insert(Credential credential) {
  if (credential.expires_at != 0 && credential.expires_at <= clock_.NowMicros()) return;
  std::string key = MapKey(credential.org, credential.id);
  std::unique_lock lock(mu_);
  by_id_.insert_or_assign(std::move(key), std::move(credential));
}

void CredentialStore::Apply(const events::LogRecord& record) {
  auto credential = Decode(record.value);
  if (!credential.ok()) {
    skipped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Insert(std::move(credential).value());
}

void CredentialStore::Follow() {
  Micros next_prune = clock_.NowMicros() + kPruneEvery;
  while (!stop_) {
    for (auto& reader : readers_) {
      if (stop_) return;
      auto records = reader->Next(kReadBatch, kFollowWait);
      if (!records.ok()) {  // the log's breaker reports an outage; try again soon
        read_errors_.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      for (const events::LogRecord& record : *records) Apply(record);
    }
    if (const Micros now = clock_.NowMicros(); now >= next_prune) {
      next_prune = now + kPruneEvery;
      std::unique_lock lock(mu_);
      std::erase_if(by_id_, [now](const auto& entry) {
        return entry.second.expires_at != 0 && entry.second.expires_at <= now;
      });
    }
  }
}

}  // namespace keytrail
