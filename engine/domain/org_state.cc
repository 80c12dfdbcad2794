#include "engine/domain/org_state.h"

#include <fmt/format.h>

namespace keytrail::domain {
namespace {

Result<KeyId> KeyIdOf(const flatbuffers::String* text) {
  if (text == nullptr) return Status::Corruption("key event without a key id");
  auto id = ParseKeyId(text->string_view());
  if (!id) return Status::Corruption(fmt::format("malformed key id '{}'", text->string_view()));
  return *id;
}

void Retire(OrgState& state, KeyState& key, KeyStatus status) {
  if (key.status != KeyStatus::kActive) return;
  key.status = status;
  if (key.expires_at == 0) {
    --state.live_never_expiring;
  } else {
    state.live_by_expiry.erase({key.expires_at, key.id});
  }
  auto it = state.names.find(key.name);
  if (it != state.names.end() && it->second == key.id) state.names.erase(it);
}

Result<KeyState*> ExistingKey(OrgState& state, const flatbuffers::String* key_id) {
  auto id = KeyIdOf(key_id);
  if (!id.ok()) return id.status();
  auto it = state.keys.find(*id);
  if (it == state.keys.end()) {
    return Status::Corruption(fmt::format("event for unknown key {}", key_id->string_view()));
  }
  return &it->second;
}

}  // namespace

size_t OrgState::ActiveKeyCount(Micros now) const {
  size_t overdue = 0;
  for (auto it = live_by_expiry.begin(); it != live_by_expiry.end() && it->first <= now; ++it) {
    ++overdue;
  }
  return live_never_expiring + live_by_expiry.size() - overdue;
}

Status Evolve(OrgState& state, const fb::Envelope& event) {
  const std::string_view command_id =
      event.command_id() ? event.command_id()->string_view() : std::string_view();
  if (!command_id.empty()) {
    state.commands.try_emplace(std::string(command_id),
                               CommandRecord{event.payload_type(), event.aggregate_id()->str()});
  }
  switch (event.payload_type()) {
    case fb::Payload::OrgCreated:
      state.exists = true;
      state.version = event.aggregate_version();
      return Status::Ok();
    case fb::Payload::GroupCreated: {
      const auto* p = event.payload_as_GroupCreated();
      if (p->group_id() == nullptr) return Status::Corruption("GroupCreated without group_id");
      GroupState& group = state.groups[p->group_id()->str()];
      group.id = p->group_id()->str();
      group.deleted = false;
      group.version = event.aggregate_version();
      return Status::Ok();
    }
    case fb::Payload::GroupRulesChanged: {
      const auto* p = event.payload_as_GroupRulesChanged();
      if (p->group_id() == nullptr) return Status::Corruption("GroupRulesChanged without group_id");
      state.groups[p->group_id()->str()].version = event.aggregate_version();
      return Status::Ok();
    }
    case fb::Payload::GroupDeleted: {
      const auto* p = event.payload_as_GroupDeleted();
      if (p->group_id() == nullptr) return Status::Corruption("GroupDeleted without group_id");
      GroupState& group = state.groups[p->group_id()->str()];
      group.deleted = true;
      group.version = event.aggregate_version();
      return Status::Ok();
    }
    case fb::Payload::MemberGroupsChanged:
      return Status::Ok();  // members are not part of key decisions yet
    case fb::Payload::KeyCreated: {
      const auto* p = event.payload_as_KeyCreated();
      auto id = KeyIdOf(p->key_id());
      if (!id.ok()) return id.status();
      if (state.keys.contains(*id)) {
        return Status::Corruption(fmt::format("key {} created twice", p->key_id()->string_view()));
      }
      KeyState key;
      key.id = *id;
      key.name = p->name() ? p->name()->str() : std::string();
      key.group = p->group_id() ? p->group_id()->str() : std::string();
      key.expires_at = p->expires_at_us();
      key.version = event.aggregate_version();
      state.names[key.name] = key.id;
      if (key.expires_at == 0) {
        ++state.live_never_expiring;
      } else {
        state.live_by_expiry.insert({key.expires_at, key.id});
      }
      state.keys.emplace(key.id, std::move(key));
      return Status::Ok();
    }
    case fb::Payload::KeyGroupChanged: {
      const auto* p = event.payload_as_KeyGroupChanged();
      auto key = ExistingKey(state, p->key_id());
      if (!key.ok()) return key.status();
      (*key)->group = p->group_id() ? p->group_id()->str() : std::string();
      (*key)->version = event.aggregate_version();
      return Status::Ok();
    }
    case fb::Payload::KeyRotated: {
      const auto* p = event.payload_as_KeyRotated();
      auto key = ExistingKey(state, p->key_id());
      if (!key.ok()) return key.status();
      (*key)->version = event.aggregate_version();
      return Status::Ok();
    }
    case fb::Payload::KeyRevoked: {
      auto key = ExistingKey(state, event.payload_as_KeyRevoked()->key_id());
      if (!key.ok()) return key.status();
      Retire(state, **key, KeyStatus::kRevoked);
      (*key)->version = event.aggregate_version();
      return Status::Ok();
    }
    case fb::Payload::KeyExpired: {
      auto key = ExistingKey(state, event.payload_as_KeyExpired()->key_id());
      if (!key.ok()) return key.status();
      Retire(state, **key, KeyStatus::kExpired);
      (*key)->version = event.aggregate_version();
      return Status::Ok();
    }
    case fb::Payload::NONE:
      break;
  }
  return Status::Corruption("event without a known payload");
}

}  // namespace keytrail::domain
