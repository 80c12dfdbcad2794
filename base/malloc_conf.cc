// jemalloc's options for the programs that hold keys (CMakeLists.txt, keytrail_use_jemalloc).
//
// thp:always: jemalloc backs its memory with transparent huge pages (the kernel's default
// here is "madvise"). A verify is two DRAM misses into the verify index (a key's tag, its
// slot) and, with 4 KiB pages, two page walks besides: at 1M keys, in-process verify on one
// thread went from ~510 to ~440 ns, resident bytes per key unchanged (docs/benchmarks.md).
// percpu_arena:percpu: one arena per CPU, used by whichever thread runs there, instead of
// four per CPU: with huge pages each mostly idle arena kept one resident (an idle
// `keytrail serve` on 2 CPUs: 26 MB without huge pages, 60 MB with them and four arenas
// per CPU, 33 MB with one per CPU), while a larger machine still gets an arena per core.
// background_thread:true: a jemalloc thread returns freed pages to the system as they
// decay (10 s), also while the process is idle; without it they go back only during later
// allocations. At 1M keys, 15 s after the creates: ~475 -> ~418 resident bytes per key.
// MALLOC_CONF in the environment still overrides these.
extern "C" {
// NOLINTNEXTLINE: the name jemalloc looks up.
const char* malloc_conf = "thp:always,percpu_arena:percpu,background_thread:true";
}
