// JsonWriter: appends compact JSON to a string, byte for byte as nlohmann::json's
// dump(-1, ' ', false, error_handler_t::replace) prints the same document, without
// building the document first. The audit trail hashes its records' bytes, so records
// written this way must stay identical to those written through nlohmann before.
//
// The caller writes each object's keys in ascending byte order (nlohmann keeps objects
// in a std::map) and balances Begin/End calls; the writer checks neither.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace keytrail::projections {

class JsonWriter {
 public:
  // Appends to *out, which must outlive the writer.
  explicit JsonWriter(std::string* out) : out_(out) {}

  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  // The next value belongs to `key`.
  void Key(std::string_view key);

  void String(std::string_view value);
  void Int(int64_t value);
  void Bool(bool value);
  // A value that is already JSON in the same form (e.g. another JsonWriter's output).
  void Raw(std::string_view json);

 private:
  void Open(char bracket);
  void Close(char bracket);
  // Separates a value from the previous one of the same array or object.
  void BeforeValue();
  void AppendString(std::string_view text);

  std::string* out_;
  bool need_comma_ = false;
};

}  // namespace keytrail::projections
