/*
 * vega/_ring_atomic.h — VEGA's atomic operations (the shared-memory ring's, and the store's: vega/_store.h
 * includes this file), as static inline functions over the GCC/Clang __atomic builtins (C11 memory model).
 * Included by vega/_ring.pxd, hence by every extension that cimports vega._ring (vega._core's FeedHandler).
 *
 * Ordering contract used by the ring (a sequence lock on 64-bit counters, see docs/FORMATS.md "Ring"):
 *   writer: store_relaxed(tail_intent); fence_release(); copy records; store_release(tail)
 *   reader: load_acquire(tail); copy records; fence_acquire(); load_relaxed(tail_intent)
 * On x86-64 the fences and acquire/release accesses compile to plain moves plus compiler barriers; on
 * AArch64 they become ldar/stlr/dmb.
 */
#ifndef VEGA_RING_ATOMIC_H
#define VEGA_RING_ATOMIC_H

#include <stdint.h>

#if !defined(__GNUC__) && !defined(__clang__)
#error "vega/_ring_atomic.h needs the GCC/Clang __atomic builtins"
#endif

static inline uint64_t vg_load_acquire_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline uint64_t vg_load_relaxed_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void vg_store_release_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void vg_store_relaxed_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

static inline uint32_t vg_load_acquire_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void vg_store_release_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline int32_t vg_load_acquire_i32(const int32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void vg_store_release_i32(int32_t *p, int32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uint8_t vg_load_acquire_u8(const uint8_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void vg_store_release_u8(uint8_t *p, uint8_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* Strong compare-and-swap, acquire-release on success; returns 1 when *p was `expected` and is now `desired`. */
static inline int vg_cas_u32(uint32_t *p, uint32_t expected, uint32_t desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ? 1 : 0;
}

static inline void vg_fence_acquire(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
static inline void vg_fence_release(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }

/* Polite busy-wait hint for a spinning reader (PAUSE on x86, YIELD on ARM). */
static inline void vg_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

#endif /* VEGA_RING_ATOMIC_H */
