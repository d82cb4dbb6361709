// LeakSanitizer settings for programs that load libpmix (pmi-bridge and the
// PMIx test programs); a no-op in builds without sanitizers.
//
// libpmix 4.2.2 keeps allocations from PMIx_Init / PMIx_server_init and from
// its progress thread (libevent callbacks) until the process exits, and
// never frees some of them: leaks of the library, not of pmi-shim. They are
// suppressed by module, so a leak whose stack runs through libpmix or its
// libevent is not reported and every other leak still fails the build's
// sanitizer tests. libpmix has no frame pointers, so the allocation stacks
// are unwound the slow, complete way, or the module would not show.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libpmix.so\n"
         "leak:libevent\n";
}

extern "C" const char* __asan_default_options() { return "fast_unwind_on_malloc=0"; }

extern "C" const char* __lsan_default_options() { return "print_suppressions=0"; }
