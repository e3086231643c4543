/*
 * rewardflow.h: the C API of the RewardFlow engine (dense, state-level rewards for agentic RL).
 *
 * The engine turns a trainer's step rows (SPEC section 1: group, trajectory, step, state,
 * action, reward, active, noop) into per-row state values, step rewards and, optionally,
 * advantages. This header is the stable contract of `librewardflow.so`:
 *
 *   - Handles are opaque (`rf_batch`); create and destroy them with the functions below.
 *   - Every array comes with an explicit length; the library never reads or writes past it.
 *   - Outputs go into arrays the caller owns; the library keeps no pointer to caller memory
 *     after a call returns.
 *   - Every fallible function returns an `rf_status`. On failure `rf_last_error()` gives a
 *     one-line message on the calling thread (for input errors: "row 12: reward: not a finite
 *     number"). Bad input or bad arguments never abort the host process; only running out of
 *     memory can.
 *   - Thread safety: functions may be called from any thread. Different batches may be used
 *     concurrently; `rf_score` may run on one batch from several threads at once, but
 *     `rf_batch_append`, `rf_batch_clear` and `rf_batch_destroy` must not race with any other
 *     call on the same batch.
 *
 * Minimal use:
 *
 *     rf_batch *batch;
 *     rf_batch_create(&batch);
 *     rf_rows rows = { .count = n, .group = ..., .trajectory = ..., .step = ..., .state = ...,
 *                      .reward = ... };
 *     if (rf_batch_append(batch, &rows) != RF_OK) fprintf(stderr, "%s\n", rf_last_error());
 *     (or rf_batch_append_columns with strings given as views where they lie)
 *     rf_options options;
 *     rf_options_init(&options);
 *     options.gamma = 0.95;
 *     rf_outputs out = { .capacity = n, .value = value, .step_reward = step_reward };
 *     if (rf_score(batch, &options, &out) != RF_OK) fprintf(stderr, "%s\n", rf_last_error());
 *     rf_batch_destroy(batch);
 *
 * Link with `pkg-config --cflags --libs rewardflow`.
 */
#ifndef REWARDFLOW_H
#define REWARDFLOW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Version of this header; `rf_version()` gives the library's. */
#define RF_VERSION_MAJOR 0
#define RF_VERSION_MINOR 2
#define RF_VERSION_PATCH 0
/** Bumped on every incompatible change of the types or functions below. */
#define RF_ABI_VERSION 1

/** Result of every fallible call. */
typedef enum rf_status {
    /** Success. */
    RF_OK = 0,
    /** The rows break SPEC section 1 (the message names the row index and the field). */
    RF_ERR_INVALID_INPUT = 1,
    /** An option is outside its domain or names no known operator / mode / policy. */
    RF_ERR_INVALID_PARAMETER = 2,
    /** API misuse: a NULL pointer, decreasing string offsets, too small an output array, a batch
     *  left unusable by a failed append. */
    RF_ERR_INVALID_ARGUMENT = 3,
    /** A numerical method could not deliver an answer (no convergence, not positive definite). */
    RF_ERR_NUMERICAL = 4,
    /** Anything else (a bug: please report it with the message). */
    RF_ERR_INTERNAL = 5
} rf_status;

/** A batch of step rows being assembled; opaque. */
typedef struct rf_batch rf_batch;

/**
 * A column of `count` byte strings, stored back to back (Arrow-style): string i is the bytes
 * `data[offsets[i]] .. data[offsets[i + 1] - 1]`. `offsets` holds `count + 1` non-decreasing,
 * non-negative entries. No terminators are needed. Strings must be valid UTF-8; equal bytes
 * are the same value.
 */
typedef struct rf_strings {
    /** The concatenated bytes (may be NULL only when every string is empty). */
    const char *data;
    /** `count + 1` offsets into `data`; NULL means "column absent" where that is allowed. */
    const int64_t *offsets;
} rf_strings;

/**
 * `count` step rows as columns (SPEC section 1). Each non-NULL array holds `count` entries.
 * States are named either by text (`state`) or by 64-bit key (`state_key`): set exactly one,
 * and use the same kind for every append to a batch.
 */
typedef struct rf_rows {
    /** Number of rows. */
    size_t count;
    /** Prompt group of each row (the trainer's `uid`). Required. */
    rf_strings group;
    /** Rollout id inside the group (`traj_uid`). Required. */
    rf_strings trajectory;
    /** Step number 0, 1, 2, ... inside the trajectory. Required. */
    const int64_t *step;
    /** Canonical observation before acting, as text; `offsets == NULL` when `state_key` is used. */
    rf_strings state;
    /** Canonical observation as a key chosen by the caller; NULL when `state` is used. */
    const uint64_t *state_key;
    /** Edge label; `offsets == NULL` means every action is "". */
    rf_strings action;
    /** Environment reward of the action taken at this step (finite). Required. */
    const double *reward;
    /** Nonzero = active; NULL means every row is active. */
    const uint8_t *active;
    /** Nonzero = the transition out of this row is not a real move; NULL means none is. */
    const uint8_t *noop;
} rf_rows;

/** One string of an `RF_STRINGS_VIEWS` column: `length` bytes at `data` (which may be NULL
 *  when `length` is 0). The bytes may lie anywhere: inside host-language string objects, Arrow
 *  buffers, a memory-mapped file. */
typedef struct rf_string_view {
    const char *data;
    int64_t length;
} rf_string_view;

/** How an `rf_string_column` lays out its strings. */
typedef enum rf_string_layout {
    /** No column (allowed for `state` when keys are used, and for `action`). */
    RF_STRINGS_NONE = 0,
    /** Bytes back to back plus `count + 1` offsets, exactly as `rf_strings`. */
    RF_STRINGS_OFFSETS = 1,
    /** `count` `rf_string_view`s. */
    RF_STRINGS_VIEWS = 2
} rf_string_layout;

/** A string column in either layout; the fields of the other layout are ignored. */
typedef struct rf_string_column {
    /** An `rf_string_layout` value. */
    int32_t layout;
    /** RF_STRINGS_OFFSETS: the concatenated bytes (may be NULL when every string is empty). */
    const char *data;
    /** RF_STRINGS_OFFSETS: `count + 1` non-negative, non-decreasing offsets into `data`. */
    const int64_t *offsets;
    /** RF_STRINGS_VIEWS: `count` views, each with a non-negative length. */
    const rf_string_view *views;
} rf_string_column;

/**
 * `count` step rows as columns, like `rf_rows` but with strings in either layout, so that
 * callers hand over the strings where they already lie (no concatenation, no re-encoding).
 * Only the bytes of each distinct string are copied into the batch.
 */
typedef struct rf_columns {
    /** Number of rows. */
    size_t count;
    /** Prompt group of each row. Required. */
    rf_string_column group;
    /** Rollout id inside the group. Required. */
    rf_string_column trajectory;
    /** State text; layout RF_STRINGS_NONE when `state_key` is used. */
    rf_string_column state;
    /** Edge label; RF_STRINGS_NONE means every action is "". */
    rf_string_column action;
    /** State as a 64-bit key; NULL when `state` is used. */
    const uint64_t *state_key;
    /** Step number 0, 1, 2, ... inside the trajectory. Required. */
    const int64_t *step;
    /** Environment reward of the action taken at this step (finite). Required. */
    const double *reward;
    /** Nonzero = active; NULL means every row is active. */
    const uint8_t *active;
    /** Nonzero = the transition out of this row is not a real move; NULL means none is. */
    const uint8_t *noop;
} rf_columns;

/**
 * Scoring options. Always initialise with `rf_options_init` and then change fields: the
 * library reads only the fields that lie wholly inside the first `struct_size` bytes and
 * takes defaults for the rest (a size below `sizeof(size_t)` is RF_ERR_INVALID_ARGUMENT), so
 * code built against this header keeps working with later libraries that append fields, and
 * a later caller's extra fields are ignored. String fields are NUL-terminated and only read
 * during the call.
 */
typedef struct rf_options {
    /** `sizeof(rf_options)` as the caller was compiled; set by `rf_options_init`. */
    size_t struct_size;
    /** Propagation operator by name: "max-decay" (default), "trajectory-return", or any other
     *  name `rf_operators()` lists. */
    const char *operator_name;
    /** γ: in (0, 1] for max-decay, (0, 1) otherwise. Default 0.9. */
    double gamma;
    /** α for pagerank (damping) and diffusion, in [0, 1). Default 0.85. */
    double alpha;
    /** Backend of the linear operators: "auto" (default), "direct", "iterative", "dense". */
    const char *solver;
    /** Residual tolerance of iterative solvers. Default 1e-12. */
    double tolerance;
    /** Iteration cap of iterative solvers. Default 10000. */
    int64_t max_iterations;
    /** Node reward policy: "firstSeen" (default), "max", "mean". */
    const char *node_reward;
    /** Advantage normalisation: NULL, "" or "none" (default: no advantages), "mean_norm",
     *  "mean_std_norm". */
    const char *advantage;
    /** w in advantage = episode_advantage + w * step_advantage. Default 1. */
    double step_weight;
    /** Graph similarity T in (0, 1] (SPEC section 2.1): a group's states whose difflib
     *  `SequenceMatcher(None, state, representative).ratio()` is >= T merge into the first such
     *  cluster. 0 (default): off, only byte-equal states merge. Needs text states. */
    double similarity;
    /** Step-group similarity T_s in (0, 1] (SPEC section 5): active rows join the first step
     *  group whose first row's state has ratio >= T_s. 0 (default): off (byte-equal states). */
    double step_group_similarity;
    /** R of goal-distance: V(s) = R * gamma^d(s) (finite, > 0). Default 10; 0 means the default. */
    double goal_reward;
    /** Step-reward mode (SPEC section 4): NULL or "" (default) = "difference", "absolute",
     *  "progress" (goal-distance only). */
    const char *step_reward;
    /** Episode statistics (SPEC section 5): NULL or "" (default) = "rows", "trajectories". */
    const char *episode_weighting;
    /** w_e in advantage = w_e * episode_advantage + w * step_advantage (finite). Default 1
     *  (set by rf_options_init; 0 is a weight like any other). */
    double episode_weight;
    /** Step-group history K >= 0 (SPEC section 5): step groups keyed on the states of rows
     *  j-K..j. Default 0 (off); refused together with step_group_similarity. */
    int64_t step_group_history;
} rf_options;

/**
 * Caller-owned output arrays, one entry per row in the order rows were appended. Any pointer
 * may be NULL (that output is not written). The advantage arrays are filled with 0 when no
 * advantage mode is set. Nothing is written when `rf_score` fails.
 */
typedef struct rf_outputs {
    /** Length of every non-NULL array below; must be at least the batch's row count. */
    size_t capacity;
    /** V(state of the row) (R_t under trajectory-return). */
    double *value;
    /** V(s_{j+1}) - V(s_j) inside the step range (SPEC section 4), else the env reward. */
    double *step_reward;
    /** V(s_{j+1}) inside the step range, else the env reward. */
    double *step_reward_abs;
    /** Normalised episode score within the group (0 on inactive rows). */
    double *episode_advantage;
    /** Normalised step reward within the step group (0 on inactive rows). */
    double *step_advantage;
    /** episode_advantage + step_weight * step_advantage. */
    double *advantage;
} rf_outputs;

/** The library's version, "MAJOR.MINOR.PATCH" (static storage). */
const char *rf_version(void);

/** The library's `RF_ABI_VERSION`; compare it with the header's before use. */
int32_t rf_abi_version(void);

/** The operators this library implements, comma-separated, e.g. "max-decay,trajectory-return"
 *  (static storage). */
const char *rf_operators(void);

/**
 * The message of the most recent failed call on the calling thread ("" if none). Valid until
 * the next failing call on the same thread; copy it to keep it.
 */
const char *rf_last_error(void);

/**
 * Sets the first `size` bytes of `options` to the defaults (see `rf_options`) and
 * `struct_size` to `min(size, the library's sizeof(rf_options))`: the library never writes past
 * what the caller's struct holds, whichever header either side was built with. NULL, or a
 * `size` below `sizeof(size_t)`, is ignored. Call it through the `rf_options_init` macro below.
 */
void rf_options_init_sized(rf_options *options, size_t size);

/**
 * The entry point of callers built against the 0.1 header: writes only the 80 bytes of that
 * layout (through `step_weight`). Code built against this header calls `rf_options_init_sized`
 * with its own `sizeof(rf_options)` through the macro of the same name.
 */
void rf_options_init(rf_options *options);

/** Sets every field of `options` to its default (see `rf_options`). */
#define rf_options_init(options) rf_options_init_sized((options), sizeof(rf_options))

/** Creates an empty batch in `*out`. Free it with `rf_batch_destroy`. */
rf_status rf_batch_create(rf_batch **out);

/** Frees a batch. NULL is ignored. */
void rf_batch_destroy(rf_batch *batch);

/**
 * Appends `rows->count` rows. Arguments are checked first (a count that would take the batch
 * past 2^31 - 2 rows, SIZE_MAX included, NULL columns, offsets, state naming), and such a
 * failure leaves the batch unchanged. Steps must lie in 0 .. 2^31 - 1. A row the engine refuses (reward not
 * finite, negative step, text that is not UTF-8) fails with RF_ERR_INVALID_INPUT naming its
 * index within the whole batch; the batch then refuses `rf_score` until `rf_batch_clear`.
 * Checks that need the whole batch (step gaps, rows active again after an inactive one, an
 * empty batch) happen in `rf_score`.
 */
rf_status rf_batch_append(rf_batch *batch, const rf_rows *rows);

/**
 * `rf_batch_append` for `rf_columns`: the same checks, errors and effect on the batch. Strings
 * new to the batch are checked to be UTF-8 (a string seen before needs no second check); large
 * appends are interned on several threads with the same result as a sequential append.
 */
rf_status rf_batch_append_columns(rf_batch *batch, const rf_columns *columns);

/** The number of rows appended so far (0 for NULL). */
size_t rf_batch_count(const rf_batch *batch);

/**
 * Removes every row (and a failed append's mark), keeping the handle and the batch's storage:
 * refilled with about as many rows, the batch reuses its columns and string tables, a large
 * append's per-thread tables, and the large per-row arrays of its last `rf_score` (a caller
 * that scores a batch per training step can keep one). `rf_batch_destroy` frees the storage.
 */
rf_status rf_batch_clear(rf_batch *batch);

/**
 * Scores the batch with `options` (NULL = defaults) and writes the per-row results into
 * `outputs`. The batch's rows are not changed; it may be scored again with other options. The
 * batch keeps the score's large per-row arrays (index, row nodes, outputs) for its next score;
 * of calls that overlap on one batch, those that find them in use score in fresh memory.
 */
rf_status rf_score(const rf_batch *batch, const rf_options *options, const rf_outputs *outputs);

/**
 * The batch's statistics as scored with `options` (NULL = defaults): the JSON document of
 * `rewardflow stats --json` (batch and per-group rows, trajectories, success rate, states, nodes,
 * edges, strongly connected components, step-group sizes, quantiles of value, step reward and
 * advantage; schema in README). On success `*json` holds a NUL-terminated UTF-8 text that the
 * caller frees with `rf_free`; on failure it is set to NULL.
 */
rf_status rf_statistics_json(const rf_batch *batch, const rf_options *options, char **json);

/** Frees memory the library handed to the caller (`rf_statistics_json`'s text). NULL is ignored. */
void rf_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif /* REWARDFLOW_H */
