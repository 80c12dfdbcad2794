// GET /v1/orgs/{org}/audit (JSON pages, or an NDJSON / CSV export streamed in chunks),
// GET /v1/orgs/{org}/keys/{id}/history, GET /v1/audit/verify.
#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "model/audit.h"
#include "server/handlers/handlers.h"
#include "server/handlers/point_in_time.h"
#include "server/json_io.h"
#include "server/log.h"
#include "server/problem.h"
#include "server/wire_format.h"

namespace keytrail::server {
namespace {

using model::AuditFilter;
using model::AuditRecord;
using nlohmann::json;

constexpr size_t kDefaultPageSize = 100;
constexpr size_t kExportPageSize = 500;  // records per chunk of a streamed export

constexpr std::string_view kActions[] = {
    "api_key.created",       "api_key.rotated",   "api_key.revoked",     "api_key.expired",
    "api_key.group_updated", "group.created",     "group.rules_updated", "group.deleted",
    "member.groups_updated", "org.created",       "projector.skipped",   "event.fenced",
    "writer.claimed",        "member.invited",    "member.password_set", "member.signed_in",
    "member.signed_out",     "api_key.suspended", "api_key.resumed",     "api_key.updated",
    "org.policy_changed"};

enum class Format { kJson, kNdjson, kCsv };

// A record as the API shows it: the stored JSON object, verbatim, plus "time" in
// RFC 3339 as its last member.
std::string Present(const AuditRecord& record) {
  std::string out = record.stored;
  out.pop_back();  // the closing brace
  out += fmt::format(",\"time\":\"{}\"}}", FormatRfc3339(record.occurred_at_us));
  return out;
}

// A JSON array of records as the API shows them.
std::string PresentAll(const std::vector<AuditRecord>& records) {
  std::string out = "[";
  for (const AuditRecord& record : records) {
    if (out.size() > 1) out.push_back(',');
    out += Present(record);
  }
  out.push_back(']');
  return out;
}

HttpResponse RawJsonResponse(std::string body) {
  HttpResponse response;
  response.content_type = "application/json";
  response.body = std::move(body);
  return response;
}

// One CSV cell. A cell a spreadsheet would take for a formula (starting with '=', '+',
// '-', '@', a tab or a carriage return: a member id such as "=HYPERLINK(...)") is
// prefixed with a quote, so it is shown as text and never run.
std::string CsvField(std::string_view raw) {
  std::string neutral;
  if (!raw.empty() && std::string_view("=+-@\t\r").find(raw.front()) != std::string_view::npos) {
    neutral = "'" + std::string(raw);
    raw = neutral;
  }
  std::string_view value = raw;
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

constexpr std::string_view kCsvHeader =
    "time,org,action,actor_kind,actor_id,actor_key_name,on_behalf_of,target_type,target_id,"
    "partition,offset,event_id,details,prev_hash\r\n";

std::string CsvLine(const AuditRecord& r) {
  std::string line;
  for (const std::string& field : {FormatRfc3339(r.occurred_at_us), r.org, r.action, r.actor.kind,
                                   r.actor.id, r.actor.key_name, r.actor.on_behalf_of,
                                   r.target.type, r.target.id, std::to_string(r.partition),
                                   std::to_string(r.offset), r.event_id, r.details, r.prev_hash}) {
    line += CsvField(field);
    line += ',';
  }
  line.back() = '\r';
  return line + "\n";
}

// The filter and paging of an audit query, from its query string.
struct AuditQuery {
  AuditFilter filter;
  size_t page_size = kDefaultPageSize;
  std::string page_token;
  std::optional<Format> format;  // ?format=csv|ndjson|json: a link can ask for an export
};

std::variant<AuditQuery, HttpResponse> ParseQuery(const RoutedRequest& request) {
  AuditQuery q;
  std::vector<std::string_view> seen;
  for (const auto& [name, value] : request.query) {
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return Problem(400, "invalid_request", fmt::format("query parameter '{}' repeated", name));
    }
    seen.push_back(name);
    if (name == "key") {
      q.filter.key = value;
    } else if (name == "actor") {
      q.filter.actor = value;
    } else if (name == "action") {
      if (std::find(std::begin(kActions), std::end(kActions), value) == std::end(kActions)) {
        return Problem(400, "invalid_request",
                       fmt::format("unknown action '{}'; see docs/audit.md", value));
      }
      q.filter.action = value;
    } else if (name == "from" || name == "to") {
      auto t = ParseRfc3339Time(value);
      if (!t)
        return Problem(400, "invalid_request", fmt::format("{} must be an RFC 3339 time", name));
      (name == "from" ? q.filter.from : q.filter.to) = *t;
    } else if (name == "page_size") {
      const auto size = ParsePageSize(value, Queries::kMaxAuditPageSize);
      if (!size) {
        return Problem(400, "invalid_request",
                       fmt::format("page_size must be 1..{}", Queries::kMaxAuditPageSize));
      }
      q.page_size = *size;
    } else if (name == "page_token") {
      q.page_token = value;
    } else if (name == "format") {
      if (value == "csv") {
        q.format = Format::kCsv;
      } else if (value == "ndjson") {
        q.format = Format::kNdjson;
      } else if (value == "json") {
        q.format = Format::kJson;
      } else {
        return Problem(400, "invalid_request", "format must be json, ndjson or csv");
      }
    } else {
      return Problem(400, "invalid_request", fmt::format("unknown query parameter '{}'", name));
    }
  }
  return q;
}

Format Negotiate(const HttpRequest& request) {
  const std::string_view accept = request.Header("accept").value_or("");
  if (accept.find("application/x-ndjson") != std::string_view::npos) return Format::kNdjson;
  if (accept.find("text/csv") != std::string_view::npos) return Format::kCsv;
  return Format::kJson;
}

// Every matching record, page by page, as NDJSON or CSV chunks.
HttpResponse Export(ApiContext& ctx, std::string org, AuditFilter filter, Format format) {
  HttpResponse response;
  response.SetHeader("Content-Disposition",
                     fmt::format("attachment; filename=\"keytrail-audit-{}.{}\"", org,
                                 format == Format::kCsv ? "csv" : "ndjson"));
  response.content_type =
      format == Format::kCsv ? "text/csv; charset=utf-8" : "application/x-ndjson";
  struct Cursor {
    std::string token;
    bool header_sent = false;
  };
  auto cursor = std::make_shared<Cursor>();
  const Queries& queries = ctx.engine.queries();
  response.stream = [&queries, org = std::move(org), filter = std::move(filter), format,
                     cursor](std::string* out) {
    if (format == Format::kCsv && !cursor->header_sent) {
      out->append(kCsvHeader);
      cursor->header_sent = true;
    }
    auto page = queries.AuditPage(org, filter, kExportPageSize, cursor->token);
    if (!page.ok()) {
      // Headers are gone already: end the body with a line saying the export is cut.
      Log(LogLevel::kError, "audit export failed", {{"error", page.status().ToString()}});
      out->append(format == Format::kCsv ? "# export failed: see the server log\r\n"
                                         : "{\"error\":\"export failed; see the server log\"}\n");
      return false;
    }
    for (const AuditRecord& record : page->records) {
      if (format == Format::kCsv) {
        out->append(CsvLine(record));
      } else {
        out->append(Present(record));
        out->push_back('\n');
      }
    }
    cursor->token = page->next_page_token;
    return !cursor->token.empty();
  };
  return response;
}

// Reading the audit trail needs audit:read on the org (organization-admin).
std::optional<HttpResponse> MayReadAudit(ApiContext& ctx, const Caller& caller) {
  return Authorize(ctx.engine, caller, domain::Action::kAuditRead, domain::Resource::Org());
}

}  // namespace

HttpResponse GetKeyAsOf(ApiContext& ctx, const Caller& caller, std::string_view id,
                        std::string_view as_of) {
  auto t = ParseAsOf(as_of, ctx.clock.NowMicros());
  if (auto* bad = std::get_if<HttpResponse>(&t)) return std::move(*bad);
  const Micros at = std::get<Micros>(t);
  auto key = ctx.engine.queries().KeyAsOf(caller.org, id, at);
  if (!key.ok()) return StatusProblem(key.status());
  if (!key->has_value()) {
    return Problem(404, "key_not_found",
                   fmt::format("no key '{}' in org '{}' at {}", id, caller.org, as_of));
  }
  auto directory = ctx.engine.queries().DirectoryAsOf(caller.org, at);
  if (!directory.ok()) return StatusProblem(directory.status());
  const domain::GroupState* group = directory->FindGroup((*key)->group_id);
  json out = KeyToJson(**key, at);
  out["as_of"] = FormatRfc3339(at);
  out["group_rules"] = group != nullptr ? RulesToJson(group->rules) : json(nullptr);
  return JsonResponse(200, out);
}

HttpResponse ListAuditHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.CallerInOrg(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  if (auto denied = MayReadAudit(ctx, caller)) return std::move(*denied);
  auto parsed = ParseQuery(request);
  if (auto* bad = std::get_if<HttpResponse>(&parsed)) return std::move(*bad);
  AuditQuery& q = std::get<AuditQuery>(parsed);
  if (const Format format = q.format.value_or(Negotiate(request.http)); format != Format::kJson) {
    if (!q.page_token.empty()) {
      return Problem(400, "invalid_request", "an export has no pages; drop page_token");
    }
    return Export(ctx, caller.org, std::move(q.filter), format);
  }
  auto page = ctx.engine.queries().AuditPage(caller.org, q.filter, q.page_size, q.page_token);
  if (!page.ok()) {
    if (page.status().code() == StatusCode::kInvalidArgument) {
      return Problem(400, "invalid_request", page.status().message());
    }
    return StatusProblem(page.status());
  }
  return RawJsonResponse(
      fmt::format("{{\"next_page_token\":{},\"records\":{}}}",
                  page->next_page_token.empty() ? "null" : json(page->next_page_token).dump(),
                  PresentAll(page->records)));
}

HttpResponse KeyHistoryHandler(ApiContext& ctx, const RoutedRequest& request) {
  // The history is audit records (actors, on-behalf-of, reasons): audit:read, as for the
  // audit trail itself.
  auto who = ctx.CallerInOrg(request, domain::Action::kAuditRead);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  auto loaded = ctx.LoadKey(caller, request.Param("id"));
  if (auto* missing = std::get_if<HttpResponse>(&loaded)) return std::move(*missing);
  auto history = ctx.engine.queries().KeyHistory(caller.org, request.Param("id"));
  if (!history.ok()) return StatusProblem(history.status());
  return RawJsonResponse(fmt::format("{{\"events\":{},\"key_id\":{}}}", PresentAll(*history),
                                     json(request.Param("id")).dump()));
}

HttpResponse VerifyAuditHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.Authenticated(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  if (caller.org != ctx.options.bootstrap_org || !IsOrgAdmin(ctx.engine, caller)) {
    return Problem(403, "forbidden",
                   fmt::format("only an admin key of org '{}' may verify the whole audit chain",
                               ctx.options.bootstrap_org));
  }
  auto report = ctx.engine.queries().VerifyAuditChain();
  if (!report.ok()) return StatusProblem(report.status());
  json out = {{"ok", report->ok}, {"records", report->records}};
  if (!report->ok) {
    out["first_broken"] = {
        {"partition", report->partition}, {"offset", report->offset}, {"problem", report->problem}};
  }
  return JsonResponse(200, out);
}

}  // namespace keytrail::server
