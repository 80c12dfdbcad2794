// A tiny blocking HTTP/1.1 client over a TCP socket, for end-to-end tests. One
// connection, kept alive between requests (reopened when the server closed it).
// Understands Content-Length bodies only (keytrail never sends chunked responses).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace keytrail::testing {

class HttpClient {
 public:
  struct Response {
    int status = 0;  // 0: no response (connection failed or closed early)
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
    std::string Header(const std::string& name) const {
      auto it = headers.find(name);
      return it == headers.end() ? std::string() : it->second;
    }
  };

  // "127.0.0.1:8080".
  explicit HttpClient(std::string address) {
    const size_t colon = address.rfind(':');
    host_ = address.substr(0, colon);
    port_ = static_cast<uint16_t>(std::atoi(address.c_str() + colon + 1));
  }
  ~HttpClient() { Close(); }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Response Send(const std::string& method, const std::string& target, const std::string& body = "",
                const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: " + host_ + "\r\n";
    for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT") {
      request +=
          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n";
    }
    request += "\r\n" + body;
    return SendRaw(request);
  }

  // Sends `bytes` as they are and reads one response. Retries once on a fresh
  // connection if a kept-alive one turned out to be closed before anything was read.
  Response SendRaw(const std::string& bytes) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = fd_ >= 0;
      if (fd_ < 0 && !Connect()) return {};
      if (!WriteAll(bytes)) {
        Close();
        if (reused) continue;
        return {};
      }
      Response response;
      bool got_any = false;
      if (ReadResponse(&response, &got_any)) return response;
      Close();
      if (got_any || !reused) return {};
    }
    return {};
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }

 private:
  bool Connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    timeval timeout{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    if (inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      Close();
      return false;
    }
    return true;
  }

  bool WriteAll(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads more bytes into buffer_; false at EOF or error.
  bool Fill() {
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  bool ReadResponse(Response* response, bool* got_any) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return false;
      *got_any = true;
    }
    *got_any = true;
    const std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12) return false;
    response->status = std::atoi(status_line.c_str() + 9);
    while (line_end != std::string::npos) {
      const size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line =
          head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t value_start = colon + 1;
      while (value_start < line.size() && line[value_start] == ' ') ++value_start;
      response->headers[name] = line.substr(value_start);
    }
    const size_t length =
        static_cast<size_t>(std::atoll(response->Header("content-length").c_str()));
    while (buffer_.size() < length) {
      if (!Fill()) return false;
    }
    response->body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    if (response->Header("connection") == "close") Close();
    return true;
  }

  std::string host_;
  uint16_t port_ = 0;
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace keytrail::testing
