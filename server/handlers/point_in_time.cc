#include "server/handlers/point_in_time.h"

#include "server/problem.h"
#include "server/wire_format.h"

namespace keytrail::server {

std::variant<Micros, HttpResponse> ParseAsOf(std::string_view text, Micros now) {
  const std::optional<Micros> t = ParseRfc3339Time(text);
  if (!t) return Problem(400, "invalid_request", "as_of must be an RFC 3339 time");
  // Nothing happened before 1970, and a time before it is no upper bound of a log scan.
  if (*t < 0) return Problem(400, "invalid_request", "as_of must not be before 1970-01-01");
  if (*t > now) return Problem(400, "invalid_request", "as_of must not be in the future");
  return *t;
}

}  // namespace keytrail::server
