// JsonWriter prints what nlohmann::json's dump(-1, ' ', false, replace) prints for the
// same document: the audit trail's stored records (and so their hash chain) depend on it.
#include "projections/json_writer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace keytrail::projections {
namespace {

using nlohmann::json;

std::string Dump(const json& document) {
  return document.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string Written(std::string_view text) {
  std::string out;
  JsonWriter(&out).String(text);
  return out;
}

TEST(JsonWriterTest, StringsAreEscapedAsNlohmannDoes) {
  std::vector<std::string> texts = {
      "",
      "plain text",
      "quote \" backslash \\ slash /",
      "\b\f\n\r\t",
      std::string("nul \0 and \x01 \x1f \x7f", 15),  // 15: the NUL is inside
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
      "invalid \xff\xfe utf-8 \xc3",
      "truncated \xe2\x82"};
  for (int c = 0; c < 256; ++c) texts.push_back(std::string(1, static_cast<char>(c)) + "x");
  for (const std::string& text : texts) EXPECT_EQ(Written(text), Dump(text)) << text;
}

TEST(JsonWriterTest, DocumentsMatchNlohmann) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("a");
  w.BeginArray();
  w.EndArray();
  w.Key("b");
  w.BeginObject();
  w.EndObject();
  w.Key("c");
  w.BeginArray();
  w.Int(-5);
  w.Bool(true);
  w.BeginObject();
  w.Key("x");
  w.Bool(false);
  w.Key("y");
  w.Raw(R"({"n":1})");
  w.EndObject();
  w.String("s");
  w.EndArray();
  w.Key("d");
  w.Int(INT64_MIN);
  w.Key("e");
  w.Int(INT64_MAX);
  w.EndObject();
  const json expected = {{"a", json::array()},
                         {"b", json::object()},
                         {"c", {-5, true, {{"x", false}, {"y", {{"n", 1}}}}, "s"}},
                         {"d", INT64_MIN},
                         {"e", INT64_MAX}};
  EXPECT_EQ(out, Dump(expected));
}

}  // namespace
}  // namespace keytrail::projections
