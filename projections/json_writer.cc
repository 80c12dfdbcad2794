#include "projections/json_writer.h"

#include <iterator>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace keytrail::projections {

void JsonWriter::Open(char bracket) {
  BeforeValue();
  out_->push_back(bracket);
  need_comma_ = false;
}

void JsonWriter::Close(char bracket) {
  out_->push_back(bracket);
  need_comma_ = true;
}

void JsonWriter::BeforeValue() {
  if (need_comma_) out_->push_back(',');
}

void JsonWriter::Key(std::string_view key) {
  BeforeValue();
  AppendString(key);
  out_->push_back(':');
  need_comma_ = false;
}

void JsonWriter::String(std::string_view value) {
  BeforeValue();
  AppendString(value);
  need_comma_ = true;
}

void JsonWriter::Int(int64_t value) {
  BeforeValue();
  const fmt::format_int text(value);
  out_->append(text.data(), text.size());
  need_comma_ = true;
}

void JsonWriter::Bool(bool value) {
  BeforeValue();
  out_->append(value ? "true" : "false");
  need_comma_ = true;
}

void JsonWriter::Raw(std::string_view json) {
  BeforeValue();
  out_->append(json);
  need_comma_ = true;
}

void JsonWriter::AppendString(std::string_view text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      // Non-ASCII, possibly invalid UTF-8: nlohmann's own rules (its replacement of
      // invalid sequences in particular) are the format, so let it print the string.
      out_->append(
          nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      return;
    }
  }
  out_->push_back('"');
  size_t plain = 0;  // start of the run of characters copied as they are
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out_->append(text.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out_->append("\\\"");
        break;
      case '\\':
        out_->append("\\\\");
        break;
      case '\b':
        out_->append("\\b");
        break;
      case '\f':
        out_->append("\\f");
        break;
      case '\n':
        out_->append("\\n");
        break;
      case '\r':
        out_->append("\\r");
        break;
      case '\t':
        out_->append("\\t");
        break;
      default:
        fmt::format_to(std::back_inserter(*out_), "\\u{:04x}", static_cast<unsigned>(c));
    }
  }
  out_->append(text.data() + plain, text.size() - plain);
  out_->push_back('"');
}

}  // namespace keytrail::projections
