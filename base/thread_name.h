// Names the calling thread, as `top -H`, `ps -L`, perf and /proc/<pid>/task/*/comm show
// it. Linux keeps 15 bytes; a longer name is cut. Best effort: a failure is ignored.
#pragma once

#include <string_view>

namespace keytrail {

void NameThisThread(std::string_view name);

}  // namespace keytrail
