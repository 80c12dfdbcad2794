// GET /healthz, /readyz, /metrics.
#include "server/handlers/handlers.h"
#include "server/json_io.h"
#include "server/problem.h"

namespace keytrail::server {

using nlohmann::json;

HttpResponse HealthzHandler(ApiContext&, const RoutedRequest&) {
  return JsonResponse(200, json{{"status", "ok"}});
}

// Ready while the server is not starting or shutting down, the event log answers
// (its end offset is read for every partition, within the log's timeout), and no
// partition's views are halted or more than options.max_projector_lag events behind.
HttpResponse ReadyzHandler(ApiContext& ctx, const RoutedRequest&) {
  if (!ctx.ready.load(std::memory_order_acquire)) {
    return Problem(503, "not_ready", "the engine is starting or shutting down");
  }
  if (Status ready = ctx.engine.CheckReady(ctx.options.max_projector_lag); !ready.ok()) {
    return Problem(503, "not_ready", ready.message());
  }
  return JsonResponse(200, json{{"status", "ready"}});
}

HttpResponse MetricsHandler(ApiContext& ctx, const RoutedRequest&) {
  HttpResponse response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = ctx.metrics.Render() + Metrics::RenderEngine(ctx.engine);
  return response;
}

}  // namespace keytrail::server
