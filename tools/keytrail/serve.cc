// keytrail serve: runs the engine (embedded local log by default, Kafka with
// --kafka-brokers) behind the HTTP API until SIGINT or SIGTERM.
//
// stdout carries only what a user or script must read: on the first start the
// bootstrap admin key (once, with a warning), then "listening on http://<address>".
// Everything else is a log line on stderr (--log-format human|json), never a secret.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "engine/credential_store.h"
#include "engine/engine.h"
#include "events/kafka_event_log.h"
#include "events/kafka_properties.h"
#include "events/kafka_writer_group.h"
#include "events/local_event_log.h"
#include "projections/view_store.h"
#include "server/api.h"
#include "server/bootstrap.h"
#include "server/http_server.h"
#include "server/log.h"
#include "server/wire_format.h"
#include "tools/keytrail/commands.h"

namespace keytrail::cli {
namespace {

using server::Log;
using server::LogLevel;

struct ServeOptions {
  std::string data_dir = "./var/keytrail";
  std::string kafka_brokers;
  std::string kafka_topic = "keytrail.events";
  std::string kafka_credentials_topic = "keytrail.credentials";
  int kafka_timeout_ms = 10'000;
  std::string kafka_config;
  std::string kafka_group = "keytrail.writers";
  std::string node_id;        // default: <hostname>-<pid>-<random>
  std::string advertise_url;  // default: http://<the bound listen address>
  int bootstrap_wait_ms = 30'000;
  int64_t ready_max_lag = 1000;
  std::string listen = "127.0.0.1:8080";
  int threads = 2;
  int idle_timeout_seconds = 30;
  size_t key_quota = 200;
  int idempotency_window_hours = 24;
  std::string retired_key_window = "24h";
  size_t max_connections = 0;
  std::string bootstrap_org = "default";
  std::string bootstrap_token_file;
  std::string log_format = "human";
  std::string session_idle_timeout = "30m";
  std::string usage_flush = "10s";
  std::string session_max_age = "12h";
  std::string public_url;  // default: http:// and the bound listen address
  std::string console_dir;
  // Single sign-on for the bootstrap org (the shortcut for PUT /v1/orgs/{org}/sso).
  std::string oidc_issuer;
  std::string oidc_client_id;
  std::string oidc_client_secret_file;
  std::string oidc_claim = "email";
  std::string oidc_jit_group;
  bool oidc_only = false;  // no password sign-in
};

// --oidc-*: the bootstrap org signs in through that provider (when this node writes it).
void ConfigureSsoFromFlags(server::Api& api, const ServeOptions& options) {
  std::ifstream in(options.oidc_client_secret_file);
  std::string secret;
  std::getline(in, secret);
  if (!in && secret.empty()) {
    Log(LogLevel::kError, "cannot read --oidc-client-secret-file; single sign-on is not set",
        {{"file", options.oidc_client_secret_file}});
    return;
  }
  domain::SsoConfig sso{.issuer = options.oidc_issuer,
                        .client_id = options.oidc_client_id,
                        .claim = options.oidc_claim,
                        .jit_group = options.oidc_jit_group,
                        .password_sign_in = !options.oidc_only};
  auto outcome = api.ConfigureSso(options.bootstrap_org, std::move(sso), Secret(std::move(secret)));
  if (!outcome.ok() || outcome->kind == CommandOutcome::Kind::kRejected) {
    Log(LogLevel::kError, "single sign-on is not set",
        {{"error", outcome.ok() ? outcome->rejection->message : outcome.status().ToString()}});
    return;
  }
  Log(LogLevel::kInfo, "single sign-on",
      {{"org", options.bootstrap_org}, {"issuer", options.oidc_issuer}});
}

// Whether `host` (no port) is a loopback name or address.
bool LoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "[::1]") return true;
  if (!host.starts_with("127.")) return false;
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

// The host of "host:port" or "[v6]:port" ("host" or "[v6]" alone: itself).
std::string_view HostOf(std::string_view address) {
  if (address.starts_with('[')) return address.substr(0, address.find(']') + 1);
  return address.substr(0, address.rfind(':'));
}

// Plain HTTP on a loopback address, as the URL people use says (--public-url, else the
// listen address): the one case where the session cookie goes without `Secure` (a
// browser would not send a Secure cookie back over plain HTTP). Anything else, e.g. TLS
// ended by a proxy in front, keeps it.
bool SecureCookie(const std::string& listen, const std::string& public_url) {
  if (public_url.empty()) return !LoopbackHost(HostOf(listen));
  constexpr std::string_view kHttp = "http://";
  if (!public_url.starts_with(kHttp)) return true;
  std::string_view authority = std::string_view(public_url).substr(kHttp.size());
  authority = authority.substr(0, authority.find('/'));
  return !LoopbackHost(HostOf(authority));
}

// The file --bootstrap-token-file names. Opened (mode 0600) before bootstrapping, so
// an unwritable path fails the start before a token exists; a symlink is refused (the
// token must not land wherever the link points); written only if a token is minted;
// removed again if this start created it and it is still empty.
class TokenFile {
 public:
  Status Open(const std::string& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd_ >= 0) {
      created_ = true;
      return Status::Ok();
    }
    if (errno == EEXIST) fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd_ < 0 && errno == ELOOP) {
      return Status::InvalidArgument(
          fmt::format("{} is a symbolic link; refusing to write a token through it", path));
    }
    if (fd_ < 0) {
      return Status::IoError(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      return Status::InvalidArgument(fmt::format("{} is not a regular file", path));
    }
    return Status::Ok();
  }

  Status Write(const Secret& token) {
    std::string line = std::string(token.reveal()) + "\n";
    Status status;
    if (::fchmod(fd_, 0600) != 0 || ::ftruncate(fd_, 0) != 0 ||
        ::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
        ::fsync(fd_) != 0) {
      status = Status::IoError(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
    }
    std::fill(line.begin(), line.end(), '\0');
    written_ = status.ok();
    return status;
  }

  // Removes the file if this start created it and nobody wrote to it (several nodes may
  // share one token file; the one that bootstraps writes it).
  ~TokenFile() {
    if (fd_ < 0) return;
    struct stat st {};
    const bool empty = ::fstat(fd_, &st) == 0 && st.st_size == 0;
    ::close(fd_);
    if (created_ && !written_ && empty) ::unlink(path_.c_str());
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool created_ = false;
  bool written_ = false;
};

bool ValidOrgId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  }
  return true;
}

int Fail(std::string_view what, const Status& status) {
  Log(LogLevel::kError, what, {{"error", status.ToString()}});
  return kExitUnavailable;
}

// <hostname>-<pid>-<4 random hex digits>: unique even for containers that share a host
// name and all run as pid 1.
std::string DefaultNodeId() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) std::strcpy(host, "node");
  uint8_t random[2];
  SystemRandom().Fill(random);
  return fmt::format("{}-{}-{:02x}{:02x}", host, ::getpid(), random[0], random[1]);
}

// Several nodes: the first start bootstraps on the node that writes the bootstrap org's
// partition; the others leave it to that node. Waits (bounded) for the group to assign it.
bool ShouldBootstrapHere(const Engine& engine, const std::string& org,
                         std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    const Engine::Writer writer = engine.WriterOf(org);
    if (writer.self) return true;
    if (!writer.claim.node_id.empty()) {
      Log(LogLevel::kInfo, "bootstrap left to the writer of its partition",
          {{"org", org}, {"node", writer.claim.node_id}});
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Log(LogLevel::kWarn, "no node took the bootstrap org's partition in time; not bootstrapping",
      {{"org", org}});
  return false;
}

// The first start's invitation for member "admin" (group admin), printed next to the
// bootstrap key, or written to <token file>.invite (mode 0600) when the key goes to a
// file. A failure is logged, not fatal: an admin key can invite later
// (`keytrail members invite admin`).
void InviteFirstAdmin(Engine& engine, CredentialStore& credentials, const std::string& org,
                      const std::string& base, const std::string& token_file) {
  domain::CommandContext context{.org = org,
                                 .actor_id = "bootstrap",
                                 .command_id = "bootstrap:admin-member",
                                 .authorize = false};  // the system sets up its own org
  auto member = engine.Execute(context, domain::SetMemberGroups{"admin", {"admin"}});
  if (!member.ok() || member->kind == CommandOutcome::Kind::kRejected) {
    Log(LogLevel::kError, "cannot add the first admin member",
        {{"error", member.ok() ? member->rejection->message : member.status().ToString()}});
    return;
  }
  context.command_id.clear();
  auto invited = server::IssueInvitation(engine, credentials, context, "admin",
                                         SystemClock::Instance().NowMicros());
  if (!invited.ok() || std::holds_alternative<domain::Rejection>(*invited)) {
    Log(LogLevel::kError, "cannot invite the first admin member",
        {{"error", invited.ok() ? std::get<domain::Rejection>(*invited).message
                                : invited.status().ToString()}});
    return;
  }
  const Secret url(server::InvitationUrl(base, std::get<server::Invitation>(*invited).token));
  if (!token_file.empty()) {
    TokenFile file;
    Status s = file.Open(token_file + ".invite");
    if (s.ok()) s = file.Write(url);
    if (s.ok()) {
      fmt::print(
          "keytrail: member 'admin' sets its console password through the link in "
          "{}.invite (valid 24 h, once)\n",
          token_file);
      return;
    }
    Log(LogLevel::kError, "cannot write the invitation file; it is on stdout only",
        {{"error", s.ToString()}});
  }
  fmt::print("keytrail: member 'admin' sets its console password at (valid 24 h, once):\n{}\n",
             url.reveal());
}

int RunServe(const ServeOptions& options) {
  server::LogFormat format;
  if (!server::ParseLogFormat(options.log_format, &format)) {
    fmt::print(stderr, "keytrail serve: --log-format must be human or json\n");
    return kExitUsage;
  }
  server::InitLogging(format);
  if (!ValidOrgId(options.bootstrap_org)) {
    fmt::print(stderr,
               "keytrail serve: --bootstrap-org must be 1-64 characters of a-z, 0-9, "
               "'-', '_'\n");
    return kExitUsage;
  }
  const auto retired_key_window = server::ParseDuration(options.retired_key_window);
  if (!retired_key_window) {
    fmt::print(stderr,
               "keytrail serve: --retired-key-window is a duration such as 24h (0s: forever)\n");
    return kExitUsage;
  }

  // Block the stop signals before any thread starts, so only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const bool kafka = !options.kafka_brokers.empty();
  const std::filesystem::path data_dir(options.data_dir);
  std::error_code ec;
  std::filesystem::create_directories(data_dir / "views", ec);
  if (!ec && !kafka) std::filesystem::create_directories(data_dir / "log", ec);
  if (ec) {
    return Fail("cannot create the data directory",
                Status::IoError(fmt::format("{}: {}", options.data_dir, ec.message())));
  }

  events::KafkaProperties kafka_properties;
  if (!options.kafka_config.empty()) {
    if (!kafka) {
      fmt::print(stderr, "keytrail serve: --kafka-config needs --kafka-brokers\n");
      return kExitUsage;
    }
    auto read = events::ReadKafkaProperties(options.kafka_config);
    if (!read.ok()) {
      fmt::print(stderr, "keytrail serve: {}\n", read.status().message());
      return kExitUsage;
    }
    kafka_properties = std::move(read).value();
  }
  const std::string node_id = options.node_id.empty() ? DefaultNodeId() : options.node_id;
  auto kafka_log = [](int severity, std::string_view message) {
    Log(severity <= 3 ? LogLevel::kError : LogLevel::kWarn, "kafka",
        {{"severity", severity}, {"message", message}});
  };

  // A Kafka log of this node on `topic`.
  auto kafka_topic = [&](const std::string& topic) {
    events::KafkaEventLog::Options kafka_options;
    kafka_options.properties = kafka_properties;
    kafka_options.brokers = options.kafka_brokers;
    kafka_options.topic = topic;
    kafka_options.timeout = std::chrono::milliseconds(options.kafka_timeout_ms);
    kafka_options.log = kafka_log;
    return kafka_options;
  };
  std::unique_ptr<events::EventLog> log;
  if (kafka) {
    auto opened = events::KafkaEventLog::Open(kafka_topic(options.kafka_topic));
    if (!opened.ok()) return Fail("cannot open the Kafka log", opened.status());
    log = std::move(opened).value();
  } else {
    auto opened = events::LocalEventLog::Open({.path = (data_dir / "log").string()});
    if (!opened.ok()) return Fail("cannot open the local log", opened.status());
    log = std::move(opened).value();
  }
  auto views = projections::OpenRocksViewStore((data_dir / "views").string());
  if (!views.ok()) return Fail("cannot open the views", views.status());

  // Members' password and session hashes: their own stream (engine/credential_store.h).
  std::unique_ptr<events::EventLog> credentials_log;
  if (kafka) {
    events::KafkaEventLog::Options kafka_options = kafka_topic(options.kafka_credentials_topic);
    kafka_options.envelopes = false;  // credential records, not event envelopes
    auto opened = events::KafkaEventLog::Open(kafka_options);
    if (opened.ok()) {
      credentials_log = std::move(opened).value();
    } else {
      Log(LogLevel::kWarn, "no credentials topic: members cannot sign in",
          {{"topic", options.kafka_credentials_topic}, {"error", opened.status().ToString()}});
    }
  } else {
    std::filesystem::create_directories(data_dir / "credentials", ec);
    auto opened = events::LocalEventLog::Open({.path = (data_dir / "credentials").string()});
    if (!opened.ok()) return Fail("cannot open the credentials log", opened.status());
    credentials_log = std::move(opened).value();
  }
  std::unique_ptr<CredentialStore> credentials;
  if (credentials_log) {
    auto opened = CredentialStore::Open(*credentials_log, SystemClock::Instance(),
                                        std::chrono::milliseconds(options.kafka_timeout_ms));
    if (!opened.ok()) return Fail("cannot read the credentials stream", opened.status());
    credentials = std::move(opened).value();
  }
  const auto idle_timeout = server::ParseDuration(options.session_idle_timeout);
  const auto max_age = server::ParseDuration(options.session_max_age);
  if (!idle_timeout || *idle_timeout <= 0 || !max_age || *max_age <= 0) {
    fmt::print(stderr,
               "keytrail serve: --session-idle-timeout and --session-max-age are durations "
               "such as 90s, 30m, 12h\n");
    return kExitUsage;
  }

  Engine::Options engine_options;
  engine_options.domain.max_active_keys = options.key_quota;
  engine_options.idempotency_window =
      static_cast<Micros>(options.idempotency_window_hours) * 3600 * 1'000'000;
  engine_options.retired_key_window = *retired_key_window;
  // On Kafka, several nodes may share the topic: follow it, write what the group assigns.
  engine_options.follow_log = kafka;
  engine_options.node_id = node_id;
  const auto usage_flush = server::ParseDuration(options.usage_flush);
  if (!usage_flush || *usage_flush <= 0) {
    fmt::print(stderr, "keytrail serve: --usage-flush is a duration such as 10s\n");
    return kExitUsage;
  }
  engine_options.key_use_flush = *usage_flush;
  auto engine = Engine::Start(*log, **views, SystemClock::Instance(), engine_options);
  if (!engine.ok()) return Fail("cannot start the engine", engine.status());

  server::Api api(**engine, SystemClock::Instance(),
                  {.bootstrap_org = options.bootstrap_org,
                   .max_projector_lag = options.ready_max_lag,
                   .forward = {.node_id = node_id,
                               .timeout = std::chrono::milliseconds(options.kafka_timeout_ms)},
                   .credentials = credentials.get(),
                   .sessions = {.idle_timeout = *idle_timeout,
                                .max_age = *max_age,
                                .secure_cookie = SecureCookie(options.listen, options.public_url)},
                   .public_url = options.public_url,
                   .console_dir = options.console_dir});
  server::HttpServer::Options http_options;
  http_options.listen = options.listen;
  http_options.threads = options.threads;
  http_options.idle_timeout = std::chrono::seconds(options.idle_timeout_seconds);
  http_options.max_connections = options.max_connections;
  http_options.error_response = &server::Api::TransportError;
  http_options.fast_handler = [&api](const server::FastRequest& request, std::string* out) {
    return api.HandleFast(request, out);
  };
  auto http = server::HttpServer::Start(
      http_options, [&api](const server::HttpRequest& request) { return api.Handle(request); });
  if (!http.ok()) return Fail("cannot listen", http.status());
  const std::string advertise_url =
      options.advertise_url.empty() ? "http://" + (*http)->address() : options.advertise_url;
  api.SetPublicUrl("http://" + (*http)->address());
  if (kafka && (advertise_url.find("://0.0.0.0:") != std::string::npos ||
                advertise_url.find("://[::]:") != std::string::npos)) {
    (*http)->Shutdown(std::chrono::seconds(0));
    fmt::print(stderr,
               "keytrail serve: listening on every address, other nodes cannot reach {}; give "
               "--advertise-url http://<this node's address>:<port>\n",
               advertise_url);
    return kExitUsage;
  }

  // Several nodes: join the group that assigns each partition one writer.
  std::unique_ptr<events::KafkaWriterGroup> group;
  if (kafka) {
    (*engine)->SetAdvertiseUrl(advertise_url);
    Engine* writers = engine->get();
    auto joined = events::KafkaWriterGroup::Join(
        {.brokers = options.kafka_brokers,
         .topic = options.kafka_topic,
         .group_id = options.kafka_group,
         .member_id = node_id,
         .properties = kafka_properties,
         .on_assigned =
             [writers](std::vector<int32_t> partitions) {
               Log(LogLevel::kInfo, "partitions assigned", {{"count", partitions.size()}});
               writers->Claim(partitions);
             },
         .on_revoked =
             [writers](std::vector<int32_t> partitions) {
               Log(LogLevel::kInfo, "partitions revoked", {{"count", partitions.size()}});
               writers->Release(partitions);
             },
         .log = kafka_log});
    if (!joined.ok()) {
      (*http)->Shutdown(std::chrono::seconds(0));
      return Fail("cannot join the writer group", joined.status());
    }
    group = std::move(joined).value();
  }

  // Bootstrap once the address is bound, so a start that cannot listen never mints a
  // token. Requests that arrive meanwhile are served (/readyz says not ready).
  {
    TokenFile token_file;
    if (!options.bootstrap_token_file.empty()) {
      if (Status s = token_file.Open(options.bootstrap_token_file); !s.ok()) {
        (*http)->Shutdown(std::chrono::seconds(0));
        return Fail("cannot open --bootstrap-token-file", s);
      }
    }
    const bool here =
        !kafka || ShouldBootstrapHere(**engine, options.bootstrap_org,
                                      std::chrono::milliseconds(options.bootstrap_wait_ms));
    auto bootstrap = here ? server::Bootstrap(**engine, *log, options.bootstrap_org)
                          : Result<server::BootstrapResult>(server::BootstrapResult{
                                .reason = "another node writes the bootstrap org"});
    if (!bootstrap.ok()) {
      (*http)->Shutdown(std::chrono::seconds(0));
      return Fail("bootstrap failed", bootstrap.status());
    }
    switch (bootstrap->kind) {
      case server::BootstrapResult::Kind::kCreated: {
        bool in_file = false;
        if (!options.bootstrap_token_file.empty()) {
          Status s = token_file.Write(*bootstrap->token);
          in_file = s.ok();
          if (!in_file) {
            Log(LogLevel::kError, "cannot write the bootstrap token file; it is on stdout only",
                {{"error", s.ToString()}});
          }
        }
        if (in_file) {
          // The file is the one place the token is: not the terminal, not a captured stdout.
          fmt::print(
              "keytrail: the bootstrap admin key of org '{}' is in {} (mode 0600), and shown "
              "nowhere else\n",
              options.bootstrap_org, options.bootstrap_token_file);
        } else {
          fmt::print(
              "keytrail: the bootstrap admin key of org '{}' follows; it is shown only this "
              "once and will not be shown again, so store it now:\n{}\n",
              options.bootstrap_org, bootstrap->token->reveal());
        }
        std::fflush(stdout);
        Log(LogLevel::kInfo, "bootstrapped",
            {{"org", options.bootstrap_org}, {"key_id", bootstrap->key_id}});
        if (credentials) {
          const std::string base =
              options.public_url.empty() ? "http://" + (*http)->address() : options.public_url;
          InviteFirstAdmin(**engine, *credentials, options.bootstrap_org, base,
                           options.bootstrap_token_file);
        }
        break;
      }
      case server::BootstrapResult::Kind::kAlreadyDone:
        Log(LogLevel::kInfo, "already bootstrapped",
            {{"org", options.bootstrap_org}, {"key_id", bootstrap->key_id}});
        break;
      case server::BootstrapResult::Kind::kSkipped:
        Log(LogLevel::kWarn, "not bootstrapping", {{"reason", bootstrap->reason}});
        break;
    }
  }

  if (!options.oidc_issuer.empty() && (*engine)->WriterOf(options.bootstrap_org).self) {
    ConfigureSsoFromFlags(api, options);
  }
  api.SetReady(true);
  fmt::print("listening on http://{}\n", (*http)->address());
  std::fflush(stdout);
  Log(LogLevel::kInfo, "serving",
      {{"address", (*http)->address()},
       {"log", kafka ? "kafka " + options.kafka_brokers + " " + options.kafka_topic
                     : (data_dir / "log").string()},
       {"views", (data_dir / "views").string()},
       {"node", node_id},
       {"advertise", advertise_url},
       {"threads", options.threads}});

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  Log(LogLevel::kInfo, "stopping", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  api.SetReady(false);
  group.reset();  // leave the group first: the partitions move on at once
  (*http)->Shutdown(std::chrono::seconds(10));
  api.Stop();       // queued org set-ups, forwards and password hashes finish first
  engine->reset();  // stops the writers; every answered command is already durable
  credentials.reset();
  credentials_log.reset();
  views->reset();
  log.reset();
  Log(LogLevel::kInfo, "stopped");
  return kExitOk;
}

}  // namespace

void AddServe(CLI::App& app, int* rc) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* cmd =
      app.add_subcommand("serve",
                         "Run the engine and its HTTP API (embedded log by default, Kafka with "
                         "--kafka-brokers)");
  cmd->add_option("--data-dir", options->data_dir,
                  "directory of the local log (log/) and the views (views/)")
      ->capture_default_str();
  cmd->add_option("--kafka-brokers", options->kafka_brokers,
                  "use the Kafka topic at these bootstrap servers instead of the local log");
  cmd->add_option("--kafka-topic", options->kafka_topic, "Kafka topic (must exist)")
      ->capture_default_str();
  cmd->add_option("--kafka-timeout-ms", options->kafka_timeout_ms,
                  "bound on each Kafka request (appends, offset queries): past it, commands "
                  "fail with 503 and /readyz reports the log unreachable")
      ->check(CLI::Range(100, 600'000))
      ->capture_default_str();
  cmd->add_option("--kafka-config", options->kafka_config,
                  "file of librdkafka properties (name=value lines: security.protocol, sasl.*, "
                  "ssl.*, timeouts) for every Kafka client; values are never logged");
  cmd->add_option("--kafka-group", options->kafka_group,
                  "consumer group of the nodes that share the topic (one writer per partition)")
      ->capture_default_str();
  cmd->add_option("--node-id", options->node_id,
                  "this node's name in writer claims and logs (default: "
                  "<hostname>-<pid>-<random>)");
  cmd->add_option("--advertise-url", options->advertise_url,
                  "URL other nodes forward commands to (default: http:// and the listen "
                  "address)");
  cmd->add_option("--bootstrap-wait-ms", options->bootstrap_wait_ms,
                  "Kafka: how long the first start waits for the group to assign the bootstrap "
                  "org's partition")
      ->check(CLI::Range(0, 600'000))
      ->capture_default_str();
  cmd->add_option("--ready-max-lag", options->ready_max_lag,
                  "/readyz fails while the views are more than this many events behind the log")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000'000}))
      ->capture_default_str();
  cmd->add_option("--listen", options->listen, "host:port to listen on (port 0: any free port)")
      ->capture_default_str();
  cmd->add_option("--threads", options->threads, "HTTP io threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--max-connections", options->max_connections,
                  "open connections at most; at the limit the oldest idle one is closed for a "
                  "new one (0: the file descriptor limit minus 256)")
      ->check(CLI::Range(size_t{0}, size_t{10'000'000}))
      ->capture_default_str();
  cmd->add_option("--idle-timeout", options->idle_timeout_seconds,
                  "seconds a connection may stay idle")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_option("--key-quota", options->key_quota, "active keys allowed per org")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  cmd->add_option("--idempotency-window-hours", options->idempotency_window_hours,
                  "how long an Idempotency-Key is remembered for answering retries")
      ->check(CLI::Range(1, 24 * 366))
      ->capture_default_str();
  cmd->add_option("--retired-key-window", options->retired_key_window,
                  "how long a revoked or expired key stays in memory and verifies as such "
                  "(then as unknown; the views and the log keep it); 0s: forever")
      ->capture_default_str();
  cmd->add_option("--bootstrap-org", options->bootstrap_org,
                  "org created on the first start; its admin keys may create orgs")
      ->capture_default_str();
  cmd->add_option("--bootstrap-token-file", options->bootstrap_token_file,
                  "write the bootstrap admin key here (mode 0600; not a symlink) on the first "
                  "start, instead of printing it");
  cmd->add_option("--usage-flush", options->usage_flush,
                  "how often the keys verification found valid are written down (their "
                  "last_used_at, to the minute)")
      ->capture_default_str();
  cmd->add_option("--session-idle-timeout", options->session_idle_timeout,
                  "a console session ends after this long without a request (e.g. 30m)")
      ->capture_default_str();
  cmd->add_option("--session-max-age", options->session_max_age,
                  "a console session ends this long after sign-in, used or not (e.g. 12h)")
      ->capture_default_str();
  cmd->add_option("--public-url", options->public_url,
                  "the URL people open the console at, for invitation links (default: http:// "
                  "and the listen address); https:// makes the session cookie Secure");
  cmd->add_option("--oidc-issuer", options->oidc_issuer,
                  "single sign-on for the bootstrap org: the OpenID provider's issuer URL "
                  "(PUT /v1/orgs/{org}/sso does the same for any org)");
  cmd->add_option("--oidc-client-id", options->oidc_client_id, "the client id at the provider");
  cmd->add_option("--oidc-client-secret-file", options->oidc_client_secret_file,
                  "a file holding the client secret (its first line)");
  cmd->add_option("--oidc-claim", options->oidc_claim,
                  "the ID token claim that is the member id: email, preferred_username or sub")
      ->capture_default_str();
  cmd->add_option("--oidc-jit-group", options->oidc_jit_group,
                  "unknown members join this group at their first sign-in (default: refused)");
  cmd->add_flag("--oidc-only", options->oidc_only, "members sign in through the provider only");
  cmd->add_option("--console-dir", options->console_dir,
                  "serve the console from this directory (node web/build.mjs --out DIR) instead "
                  "of the copy built in: for developing the console");
  cmd->add_option("--kafka-credentials-topic", options->kafka_credentials_topic,
                  "Kafka topic of members' password and session hashes (must exist; without it "
                  "members cannot sign in)")
      ->capture_default_str();
  cmd->add_option("--log-format", options->log_format, "human or json")
      ->check(CLI::IsMember({"human", "json"}))
      ->capture_default_str();
  cmd->callback([options, rc] { *rc = RunServe(*options); });
}

}  // namespace keytrail::cli
