// The JSONL scanner's one SIMD kernel: the first byte of a JSON string's body that needs
// attention. Header-only (static inline), so Swift inlines it; SSE2 is part of x86-64, so no
// run-time dispatch is needed there; other targets get the portable loop.
#ifndef REWARDFLOW_JSON_SCAN_H
#define REWARDFLOW_JSON_SCAN_H
#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// The first p in [start, end) whose byte is a quote, a backslash, a control character
/// (< 0x20) or non-ASCII (>= 0x80), or, when fewer than 16 bytes remain, the first p from
/// which fewer than 16 bytes remain and none of the bytes skipped needed attention. So the
/// result is never past the first such byte; the caller finishes the last < 16 bytes itself.
static inline const uint8_t *rf_json_skip_plain(const uint8_t *start, const uint8_t *end) {
    const uint8_t *p = start;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8(0x22), backslash = _mm_set1_epi8(0x5C);
    // x < 0x20 as signed bytes after flipping the sign bit: non-ASCII bytes become negative.
    const __m128i bias = _mm_set1_epi8((char)0x80), limit = _mm_set1_epi8((char)(0x20 ^ 0x80));
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
        hit = _mm_or_si128(hit, _mm_cmplt_epi8(_mm_xor_si128(v, bias), limit));  // < 0x20 (unsigned)
        int mask = _mm_movemask_epi8(_mm_or_si128(hit, v));  // | the high bit: non-ASCII
        if (mask) return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#else
    while (end - p >= 16) {
        uint8_t c = *p;
        if (c == 0x22 || c == 0x5C || c < 0x20 || c >= 0x80) return p;
        p++;
    }
#endif
    return p;
}

/// A hint that the cache line holding `address` will soon be read (no effect on any value;
/// the engine's one header-only C shim holds it beside the scanner's kernel).
static inline void rf_prefetch_read(const void *address) { __builtin_prefetch(address, 0, 3); }

#endif
