// NginxProcess: Debian's nginx as a gateway in front of a tiny echo service, configured
// with the files of docs/gateways/nginx (the ones the docs tell users to copy), for the
// gateway end-to-end tests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/support/child_process.h"

namespace keytrail::testing {

inline constexpr const char* kNginxBinary = "/usr/sbin/nginx";

// A loopback port nobody listens on now (bound to port 0, then released).
inline int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

inline bool Accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// nginx (one process, in the foreground) on a free port, in `dir`, with the docs'
// gateway configuration pointed at `keytrail_address` ("127.0.0.1:PORT"). The protected
// service is a second nginx server block that answers every request with the identity
// headers it received, one "name=value" per line.
class NginxProcess {
 public:
  NginxProcess(const std::string& dir, const std::string& keytrail_address)
      : dir_(dir), port_(FreeLoopbackPort()), service_port_(FreeLoopbackPort()) {
    namespace fs = std::filesystem;
    fs::create_directories(dir_ + "/snippets");
    fs::create_directories(dir_ + "/temp");
    const std::string docs = KEYTRAIL_NGINX_DOCS_DIR;
    std::string gateway = Read(docs + "/keytrail-gateway.conf");
    Replace(&gateway, "server 127.0.0.1:8080;", "server " + keytrail_address + ";");
    Replace(&gateway, "server 127.0.0.1:9000;",
            "server 127.0.0.1:" + std::to_string(service_port_) + ";");
    Replace(&gateway, "listen 127.0.0.1:8000;", "listen 127.0.0.1:" + std::to_string(port_) + ";");
    Write(dir_ + "/keytrail-gateway.conf", gateway);
    Write(dir_ + "/snippets/keytrail-auth.conf", Read(docs + "/snippets/keytrail-auth.conf"));
    const std::string temp = dir_ + "/temp";
    Write(dir_ + "/nginx.conf",
          "daemon off;\nmaster_process off;\nworker_processes 1;\npid " + dir_ +
              "/nginx.pid;\nerror_log " + dir_ +
              "/error.log warn;\nevents { worker_connections 256; }\nhttp {\n"
              "  access_log off;\n"
              "  client_body_temp_path " +
              temp + "/body;\n  proxy_temp_path " + temp + "/proxy;\n  fastcgi_temp_path " + temp +
              "/fastcgi;\n  uwsgi_temp_path " + temp + "/uwsgi;\n  scgi_temp_path " + temp +
              "/scgi;\n"
              "  include keytrail-gateway.conf;\n"
              "  server {\n    listen 127.0.0.1:" +
              std::to_string(service_port_) +
              ";\n    location / {\n      default_type text/plain;\n"
              "      return 200 \"key_id=$http_x_keytrail_key_id\\norg=$http_x_keytrail_org\\n"
              "group=$http_x_keytrail_group\\nsecret=$http_x_keytrail_secret\\n"
              "authorization=$http_authorization\\napi_key=$http_x_api_key\\n\";\n"
              "    }\n  }\n}\n");
    child_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        kNginxBinary, "-p", dir_, "-c", dir_ + "/nginx.conf", "-e", dir_ + "/error.log"});
    for (int i = 0; i < 200 && !Accepts(port_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    started_ = Accepts(port_) && Accepts(service_port_);
  }

  bool started() const { return started_; }
  // "127.0.0.1:PORT" of the gateway.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string error_log() const { return Read(dir_ + "/error.log"); }

 private:
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
  }
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }
  static void Replace(std::string* text, const std::string& from, const std::string& to) {
    const size_t at = text->find(from);
    if (at != std::string::npos) text->replace(at, from.size(), to);
  }

  std::string dir_;
  int port_;
  int service_port_;
  std::unique_ptr<ChildProcess> child_;
  bool started_ = false;
};

}  // namespace keytrail::testing
