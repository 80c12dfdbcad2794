// jemalloc's options for the programs that hold keys (CMakeLists.txt, keytrail_use_jemalloc).
//
// thp:always: jemalloc backs its memory with transparent huge pages (the kernel's default
// here is "madvise"). A verify is two DRAM misses into the verify index (a key's tag, its
// slot) and, with 4 KiB pages, two page walks besides: at 1M keys, in-process verify on one
// thread went from ~510 to ~440 ns, resident bytes per key unchanged (docs/benchmarks.md).
// narenas:1: one arena instead of four per core, so the huge pages of mostly idle arenas
// do not stay resident (an idle `keytrail serve`: 26 MB, 60 MB with four arenas per core,
// 30 MB with one); threads still allocate from their own caches.
// background_thread:true: a jemalloc thread returns freed pages to the system as they
// decay (10 s), also while the process is idle; without it they go back only during later
// allocations. At 1M keys, 15 s after the creates: ~475 -> ~418 resident bytes per key.
// MALLOC_CONF in the environment still overrides these.
extern "C" {
// NOLINTNEXTLINE: the name jemalloc looks up.
const char* malloc_conf = "thp:always,narenas:1,background_thread:true";
}
