#ifndef SWIFTFUNC_CSHAREDMEMORY_SHIM_H
#define SWIFTFUNC_CSHAREDMEMORY_SHIM_H
#include <stdint.h>

// Release stores and acquire loads of one aligned 64-bit word: never torn, and a reader that
// sees a word also sees every store made before it by the writing thread.
static inline void sf_shared_store(int64_t *word, int64_t value) { __atomic_store_n(word, value, __ATOMIC_RELEASE); }
static inline int64_t sf_shared_load(const int64_t *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }
#endif
