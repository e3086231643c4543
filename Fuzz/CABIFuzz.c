/*
 * libFuzzer target over the C ABI: batches built from fuzzed columns (both append entry points,
 * both string layouts, keys or texts, several appends per batch) and scored with fuzzed
 * options (every field, struct_size included, and counts/capacities up to SIZE_MAX).
 *
 * The harness stays inside the header's contract where the library cannot check it (every
 * array holds `count` entries, offsets and views lie inside the bytes given), and breaks it
 * everywhere the library promises to check (NULL columns, negative or decreasing offsets,
 * negative lengths, non-UTF-8 text, NaN rewards, any struct_size, huge counts). Any status is
 * fine; a crash, an ASan report or a status outside rf_status is a finding.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rewardflow.h"

typedef struct {
    const uint8_t *data;
    size_t size, at;
} reader;

static uint64_t take(reader *r, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)(r->at < r->size ? r->data[r->at++] : 0) << (8 * i);
    return v;
}

static double take_double(reader *r) {
    uint8_t kind = (uint8_t)take(r, 1);
    if (kind < 200) return (double)(int8_t)take(r, 1) / 4; /* small, mostly valid values */
    uint64_t bits = take(r, 8);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* The string pool every column points into (the fuzzed bytes themselves). */
static rf_string_column string_column(reader *r, size_t n, const char *pool, size_t pool_size,
                                      int64_t *offsets, rf_string_view *views) {
    rf_string_column c;
    memset(&c, 0, sizeof c);
    uint8_t mode = (uint8_t)take(r, 1);
    c.layout = mode % 8 == 7 ? (int32_t)take(r, 4) : (int32_t)(mode % 3);
    if (c.layout == RF_STRINGS_OFFSETS) {
        int64_t at = 0;
        for (size_t i = 0; i <= n; i++) {
            uint8_t step = (uint8_t)take(r, 1);
            /* Mostly short strings forward; now and then a step back or a negative offset. */
            if (step == 0xFF) at -= 1;
            else if (step == 0xFE) at = -(int64_t)take(r, 8);
            else at += step % 5;
            if (at > (int64_t)pool_size) at = (int64_t)pool_size;
            offsets[i] = at;
        }
        c.offsets = mode & 0x80 ? NULL : offsets;
        c.data = (mode & 0x40) ? NULL : pool;
    } else if (c.layout == RF_STRINGS_VIEWS) {
        for (size_t i = 0; i < n; i++) {
            size_t start = pool_size ? take(r, 1) % pool_size : 0;
            int64_t length = (int64_t)(take(r, 1) % 6);
            if (length == 5) length = -(int64_t)take(r, 1);
            if (length > 0 && start + (size_t)length > pool_size) length = (int64_t)(pool_size - start);
            views[i].data = (length == 0 && (take(r, 1) & 1)) ? NULL : pool + start;
            views[i].length = length;
        }
        c.views = mode & 0x80 ? NULL : views;
    }
    return c;
}

enum { MAX_ROWS = 64 };

static int append(rf_batch *batch, reader *r, const char *pool, size_t pool_size) {
    size_t n = take(r, 1) % (MAX_ROWS + 1);
    static int64_t offsets[4][MAX_ROWS + 1];
    static rf_string_view views[4][MAX_ROWS];
    static int64_t steps[MAX_ROWS];
    static uint64_t keys[MAX_ROWS];
    static double rewards[MAX_ROWS];
    static uint8_t active[MAX_ROWS], noop[MAX_ROWS];
    uint8_t flags = (uint8_t)take(r, 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t s = (uint8_t)take(r, 1);
        steps[i] = s < 250 ? s % 8 : (int64_t)take(r, 8);
        keys[i] = take(r, 1) % 8;
        rewards[i] = take_double(r);
        uint8_t bits = (uint8_t)take(r, 1);
        active[i] = bits & 1 ? 0 : (bits & 2 ? 1 : bits);
        noop[i] = bits & 4;
    }
    rf_columns c;
    memset(&c, 0, sizeof c);
    c.count = n;
    c.group = string_column(r, n, pool, pool_size, offsets[0], views[0]);
    c.trajectory = string_column(r, n, pool, pool_size, offsets[1], views[1]);
    if (flags & 1) c.state = string_column(r, n, pool, pool_size, offsets[2], views[2]);
    if (flags & 2) c.state_key = keys;
    c.action = string_column(r, n, pool, pool_size, offsets[3], views[3]);
    c.step = flags & 4 ? NULL : steps;
    c.reward = flags & 8 ? NULL : rewards;
    c.active = flags & 16 ? active : NULL;
    c.noop = flags & 32 ? noop : NULL;
    if (flags & 64) {
        /* A count the arrays do not hold: the library must refuse it before reading. */
        size_t huge[] = {SIZE_MAX, (size_t)1 << 63, (size_t)INT32_MAX, (size_t)INT32_MAX - 1};
        c.count = huge[take(r, 1) % 4];
        if (c.count == (size_t)INT32_MAX - 1 && rf_batch_count(batch) == 0) c.count = n;
    }
    size_t given = c.count;
    rf_status status;
    if (flags & 128) {
        rf_rows rows;
        memset(&rows, 0, sizeof rows);
        rows.count = c.count;
        /* rf_rows has only the offsets layout. */
        if (c.group.layout == RF_STRINGS_OFFSETS) rows.group = (rf_strings){c.group.data, c.group.offsets};
        if (c.trajectory.layout == RF_STRINGS_OFFSETS) rows.trajectory = (rf_strings){c.trajectory.data, c.trajectory.offsets};
        if (c.state.layout == RF_STRINGS_OFFSETS) rows.state = (rf_strings){c.state.data, c.state.offsets};
        if (c.action.layout == RF_STRINGS_OFFSETS) rows.action = (rf_strings){c.action.data, c.action.offsets};
        rows.state_key = c.state_key;
        rows.step = c.step;
        rows.reward = c.reward;
        rows.active = c.active;
        rows.noop = c.noop;
        status = rf_batch_append(batch, &rows);
    } else {
        status = rf_batch_append_columns(batch, &c);
    }
    /* A count larger than the arrays must never be accepted. */
    if (given > n && status == RF_OK) abort();
    return status;
}

static const char *pick(reader *r, const char *const *names, size_t count) {
    uint8_t k = (uint8_t)take(r, 1);
    if (k % 16 == 15) return NULL;
    return names[k % count];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size, 0};
    /* The first up-to-64 bytes also serve as the string pool. */
    size_t pool_size = size < 64 ? size : 64;
    char pool[64];
    memcpy(pool, data, pool_size);
    r.at = take(&r, 1) % (pool_size + 1);

    rf_batch *batch = NULL;
    if (rf_batch_create(&batch) != RF_OK) abort();
    int appends = 1 + (int)(take(&r, 1) % 3);
    for (int k = 0; k < appends; k++) {
        rf_status s = append(batch, &r, pool, pool_size);
        if (s < RF_OK || s > RF_ERR_INTERNAL || s == RF_ERR_INTERNAL) abort();
        if (take(&r, 1) == 0xC1) rf_batch_clear(batch);
    }

    static const char *const operators[] = {"max-decay", "trajectory-return", "discounted", "pagerank", "diffusion", "", "max-decayX"};
    static const char *const solvers[] = {"auto", "direct", "iterative", "dense", "nope"};
    static const char *const policies[] = {"firstSeen", "max", "mean", "min"};
    static const char *const advantages[] = {"none", "mean_norm", "mean_std_norm", "", "zscore"};
    /* Room past the struct for a caller built against a longer one. */
    union {
        rf_options options;
        unsigned char bytes[sizeof(rf_options) + 16];
    } given;
    memset(given.bytes, (int)take(&r, 1), sizeof given.bytes);
    rf_options_init(&given.options);
    given.options.struct_size = take(&r, 1) % (sizeof given.bytes + 1);
    given.options.operator_name = pick(&r, operators, 7);
    given.options.gamma = take_double(&r);
    given.options.alpha = take_double(&r);
    given.options.solver = pick(&r, solvers, 5);
    uint8_t t = (uint8_t)take(&r, 1);
    given.options.tolerance = t < 128 ? 1e-12 : (t < 250 ? 1e-6 : take_double(&r));
    uint8_t m = (uint8_t)take(&r, 1);
    given.options.max_iterations = m < 250 ? 1 + m : (int64_t)take(&r, 8);
    given.options.node_reward = pick(&r, policies, 4);
    given.options.advantage = pick(&r, advantages, 5);
    given.options.step_weight = take_double(&r);

    size_t n = rf_batch_count(batch);
    static double out[6][3 * MAX_ROWS];
    uint8_t o = (uint8_t)take(&r, 1);
    rf_outputs outputs = {o == 0xFF ? SIZE_MAX : (o == 0xFE && n ? n - 1 : n),
                          out[0], o & 1 ? out[1] : NULL, out[2], o & 2 ? out[3] : NULL, out[4], out[5]};
    if (o == 0xFF) outputs.capacity = n; /* SIZE_MAX would promise arrays we do not have */
    rf_status s = rf_score(batch, o & 4 ? NULL : &given.options, &outputs);
    if (s < RF_OK || s > RF_ERR_INTERNAL || s == RF_ERR_INTERNAL) abort();
    if (s != RF_OK && rf_last_error()[0] == 0) abort(); /* every failure has a message */
    rf_batch_destroy(batch);
    return 0;
}
