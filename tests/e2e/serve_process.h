// ServeProcess: one run of the real `keytrail serve` binary for end-to-end tests.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/child_process.h"

namespace keytrail::testing {

// One run of `keytrail serve --log-format json` on 127.0.0.1:0 over `data_dir`, with
// `extra` flags. Its stderr (the log) is appended to <data_dir>.log. The constructor
// returns once the server listens (started()) or has exited (not started()).
class ServeProcess {
 public:
  explicit ServeProcess(const std::string& data_dir, const std::vector<std::string>& extra = {})
      : log_path_(data_dir + ".log"), child_(Argv(data_dir, log_path_, extra)) {
    std::string line;
    while (child_.ReadLine(&line)) {
      constexpr std::string_view kListening = "listening on http://";
      if (line.starts_with(kListening)) {
        address_ = line.substr(kListening.size());
        break;
      }
      before_listening_.push_back(line);
    }
    if (!started()) ReportLog("exited before listening");
  }

  bool started() const { return !address_.empty(); }
  const std::string& address() const { return address_; }
  // What the server printed on stdout before "listening on ...".
  const std::vector<std::string>& banner() const { return before_listening_; }
  const std::string& log_path() const { return log_path_; }

  // SIGTERM, then the exit status (a server that did not exit 0 shows its log).
  int Stop() {
    child_.Signal(SIGTERM);
    const int status = child_.Wait();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ReportLog("did not exit 0 on SIGTERM");
    return status;
  }
  // Sends `signal` (e.g. SIGSTOP / SIGCONT) and returns at once.
  void Signal(int signal) { child_.Signal(signal); }
  // SIGKILL: no chance to flush or answer anything.
  void Kill() {
    child_.Kill();
    child_.Wait();
  }

 private:
  // A server that failed says why in its log: show it in the test's output.
  void ReportLog(std::string_view what) const {
    std::ifstream log(log_path_);
    const std::string text{std::istreambuf_iterator<char>(log), std::istreambuf_iterator<char>()};
    std::cerr << "keytrail serve " << what << "; its log (" << log_path_ << "):\n"
              << text << std::endl;
  }

  static std::vector<std::string> Argv(const std::string& data_dir, const std::string& log_path,
                                       const std::vector<std::string>& extra) {
    // sh only redirects stderr, then execs the server (so signals reach it directly).
    std::vector<std::string> argv = {"/bin/sh",
                                     "-c",
                                     "exec \"$@\" 2>>\"$0\"",
                                     log_path,
                                     KEYTRAIL_BINARY,
                                     "serve",
                                     "--data-dir",
                                     data_dir,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--log-format",
                                     "json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  std::string log_path_;
  ChildProcess child_;
  std::string address_;
  std::vector<std::string> before_listening_;
};

// The exit code of a waitpid status, or -1000 - status if the process did not exit.
inline int Exited(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1000 - status; }

}  // namespace keytrail::testing
