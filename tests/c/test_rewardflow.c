/*
 * The C API of librewardflow.so, from C: a hand-computed batch (conformance case `chain`,
 * γ = 0.9) by text states and by keys, appended in one call and in two; bad input and
 * misuse that must return an error status with a message (never abort); one batch scored
 * from several threads at once, each with its own last-error message.
 */
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewardflow.h"

/* The layout of rf_options that `struct_size` versioning relies on (LP64): fields only ever
 * appended, each at the offset below. A field appended later gets one more line here. */
_Static_assert(offsetof(rf_options, struct_size) == 0, "rf_options layout");
_Static_assert(offsetof(rf_options, operator_name) == 8, "rf_options layout");
_Static_assert(offsetof(rf_options, gamma) == 16, "rf_options layout");
_Static_assert(offsetof(rf_options, alpha) == 24, "rf_options layout");
_Static_assert(offsetof(rf_options, solver) == 32, "rf_options layout");
_Static_assert(offsetof(rf_options, tolerance) == 40, "rf_options layout");
_Static_assert(offsetof(rf_options, max_iterations) == 48, "rf_options layout");
_Static_assert(offsetof(rf_options, node_reward) == 56, "rf_options layout");
_Static_assert(offsetof(rf_options, advantage) == 64, "rf_options layout");
_Static_assert(offsetof(rf_options, step_weight) == 72, "rf_options layout");
_Static_assert(offsetof(rf_options, similarity) == 80, "rf_options layout");
_Static_assert(offsetof(rf_options, step_group_similarity) == 88, "rf_options layout");
_Static_assert(offsetof(rf_options, goal_reward) == 96, "rf_options layout");
_Static_assert(offsetof(rf_options, step_reward) == 104, "rf_options layout");
_Static_assert(offsetof(rf_options, episode_weighting) == 112, "rf_options layout");
_Static_assert(offsetof(rf_options, episode_weight) == 120, "rf_options layout");
_Static_assert(offsetof(rf_options, step_group_history) == 128, "rf_options layout");
_Static_assert(sizeof(rf_options) == 136, "rf_options layout");
_Static_assert(sizeof(size_t) == 8 && sizeof(void *) == 8, "the ABI is LP64");

static int failures = 0;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

/* A call that must fail with `status` and a message containing `needle`. */
#define CHECK_ERROR(call, status, needle)                                               \
    do {                                                                                \
        rf_status got_ = (call);                                                        \
        if (got_ != (status) || strstr(rf_last_error(), (needle)) == NULL) {            \
            fprintf(stderr, "%s:%d: %s: got status %d, message \"%s\"; want %d, \"%s\"\n", \
                    __FILE__, __LINE__, #call, (int)got_, rf_last_error(), (int)(status), \
                    (needle));                                                          \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

static int near(double a, double b) { return fabs(a - b) <= 1e-12; }

/* Conformance case `chain`: A→B→C (goal 10) and A→B→D→E. */
enum { N = 7 };
static const char *groups[N] = {"g0", "g0", "g0", "g0", "g0", "g0", "g0"};
static const char *trajs[N] = {"t0", "t0", "t0", "t1", "t1", "t1", "t1"};
static const int64_t steps[N] = {0, 1, 2, 0, 1, 2, 3};
static const char *states[N] = {"A", "B", "C", "A", "B", "D", "E"};
static const uint64_t keys[N] = {1, 2, 3, 1, 2, 4, 5};
static const char *actions[N] = {"a", "b", "", "a", "c", "d", ""};
static const double rewards[N] = {0, 10, 0, 0, 0, 0, 0};
static const uint8_t active[N] = {1, 1, 0, 1, 1, 1, 1};

/* Expected by hand: V(A) = 0.9·9, V(B) = 0.9·10, V(C) = 10, V(D) = V(E) = 0. */
static const double want_value[N] = {8.1, 9, 10, 8.1, 9, 0, 0};
static const double want_step[N] = {0.9, 1, 0, 0.9, -9, 0, 0};
static const double want_abs[N] = {9, 10, 0, 9, 0, 0, 0};
/* mean_norm: episode scores 10 (2 active rows) and 0 (4 rows), mean 20/6; step group B =
 * {1, -9} → ±5, A = {0.9, 0.9} → 0, D and E single → 0; the inactive row gets 0. */
static const double want_episode[N] = {20.0 / 3, 20.0 / 3, 0, -10.0 / 3, -10.0 / 3, -10.0 / 3, -10.0 / 3};
static const double want_stepadv[N] = {0, 5, 0, 0, -5, 0, 0};

/* An Arrow-style column from C strings (offsets + bytes); freed by free_column. */
typedef struct {
    char *data;
    int64_t *offsets;
} column;

static column make_column(const char **strings, size_t n) {
    column c;
    size_t total = 0;
    c.offsets = malloc((n + 1) * sizeof(int64_t));
    for (size_t i = 0; i < n; i++) total += strlen(strings[i]);
    c.data = malloc(total + 1);
    c.offsets[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(strings[i]);
        memcpy(c.data + c.offsets[i], strings[i], len);
        c.offsets[i + 1] = c.offsets[i] + (int64_t)len;
    }
    return c;
}

static void free_column(column c) {
    free(c.data);
    free(c.offsets);
}

static rf_strings view(column c) {
    rf_strings s = {c.data, c.offsets};
    return s;
}

/* Rows [from, to) of the chain batch, text states (or keys when `by_key`). */
static rf_rows chain_rows(column *g, column *t, column *s, column *a, size_t from, size_t to, int by_key) {
    size_t n = to - from;
    *g = make_column(groups + from, n);
    *t = make_column(trajs + from, n);
    *s = make_column(states + from, n);
    *a = make_column(actions + from, n);
    rf_rows rows;
    memset(&rows, 0, sizeof rows);
    rows.count = n;
    rows.group = view(*g);
    rows.trajectory = view(*t);
    rows.step = steps + from;
    if (by_key) {
        rows.state_key = keys + from;
    } else {
        rows.state = view(*s);
    }
    rows.action = view(*a);
    rows.reward = rewards + from;
    rows.active = active + from;
    return rows;
}

static rf_status append_range(rf_batch *batch, size_t from, size_t to, int by_key) {
    column g, t, s, a;
    rf_rows rows = chain_rows(&g, &t, &s, &a, from, to, by_key);
    rf_status status = rf_batch_append(batch, &rows);
    free_column(g);
    free_column(t);
    free_column(s);
    free_column(a);
    return status;
}

static void check_chain(rf_batch *batch, const char *label) {
    double value[N], step_reward[N], step_abs[N], episode[N], stepadv[N], adv[N];
    rf_outputs out = {N, value, step_reward, step_abs, episode, stepadv, adv};
    rf_options options;
    rf_options_init(&options);
    options.advantage = "mean_norm";
    CHECK(rf_batch_count(batch) == N);
    CHECK(rf_score(batch, &options, &out) == RF_OK);
    for (int i = 0; i < N; i++) {
        if (!near(value[i], want_value[i]) || !near(step_reward[i], want_step[i]) ||
            !near(step_abs[i], want_abs[i]) || !near(episode[i], want_episode[i]) ||
            !near(stepadv[i], want_stepadv[i]) || !near(adv[i], want_episode[i] + want_stepadv[i])) {
            fprintf(stderr, "%s row %d: got %g %g %g %g %g %g\n", label, i, value[i], step_reward[i],
                    step_abs[i], episode[i], stepadv[i], adv[i]);
            failures++;
        }
    }
    /* No advantage mode: advantage arrays are zero-filled. */
    options.advantage = NULL;
    CHECK(rf_score(batch, &options, &out) == RF_OK);
    for (int i = 0; i < N; i++) CHECK(adv[i] == 0 && episode[i] == 0 && near(value[i], want_value[i]));
}

static void test_results(void) {
    rf_batch *batch = NULL;
    CHECK(rf_batch_create(&batch) == RF_OK && batch != NULL);
    CHECK(append_range(batch, 0, N, 0) == RF_OK);
    check_chain(batch, "text states");
    rf_batch_destroy(batch);

    CHECK(rf_batch_create(&batch) == RF_OK);
    CHECK(append_range(batch, 0, 4, 1) == RF_OK);
    CHECK(append_range(batch, 4, N, 1) == RF_OK);
    check_chain(batch, "keyed states, two appends");

    /* trajectory-return, γ = 0.9: R = 9, 10 on t0; 0 on t1; the inactive row keeps its reward. */
    double value[N];
    rf_outputs out = {N, value, NULL, NULL, NULL, NULL, NULL};
    rf_options options;
    rf_options_init(&options);
    options.operator_name = "trajectory-return";
    CHECK(rf_score(batch, &options, &out) == RF_OK);
    CHECK(near(value[0], 9) && near(value[1], 10) && value[2] == 0 && value[3] == 0);

    /* NULL options are the defaults. */
    CHECK(rf_score(batch, NULL, &out) == RF_OK && near(value[0], 8.1));
    CHECK(rf_batch_clear(batch) == RF_OK && rf_batch_count(batch) == 0);
    rf_batch_destroy(batch);
}

/* goal-distance, step-reward modes, episode weighting/weight, step-group history. */
static void test_credit_options(void) {
    double value[N], step_reward[N], step_abs[N], episode[N], stepadv[N], adv[N];
    rf_outputs out = {N, value, step_reward, step_abs, episode, stepadv, adv};
    rf_options options;
    rf_batch *batch = NULL;
    CHECK(rf_batch_create(&batch) == RF_OK && append_range(batch, 0, N, 0) == RF_OK);
    rf_options_init(&options);
    CHECK(options.goal_reward == 10 && options.step_reward == NULL && options.episode_weighting == NULL &&
          options.episode_weight == 1 && options.step_group_history == 0);
    /* Goal C; d: C 0, B 1, A 2, D and E reach no goal: D + 1 = 3. V = 4 * 0.5^d. */
    options.operator_name = "goal-distance";
    options.gamma = 0.5;
    options.goal_reward = 4;
    options.step_reward = "progress";
    options.advantage = "mean_norm";
    options.episode_weighting = "trajectories";
    options.episode_weight = 0.5;
    CHECK(rf_score(batch, &options, &out) == RF_OK);
    static const double want_v[N] = {1, 2, 4, 1, 2, 0.5, 0.5};
    /* 4 * 0.5^(d(next) - d(s) + 1); the inactive row 2 and the last row 6 keep reward 0. */
    static const double want_progress[N] = {4, 4, 0, 4, 0.5, 2, 0};
    /* Scores 10 and 0 once each: mean 5. */
    static const double want_ep[N] = {5, 5, 0, -5, -5, -5, -5};
    for (int i = 0; i < N; i++) {
        CHECK(near(value[i], want_v[i]) && near(step_reward[i], want_progress[i]) && near(episode[i], want_ep[i]));
        CHECK(near(adv[i], 0.5 * episode[i] + stepadv[i]));
    }
    options.step_reward = "absolute";
    CHECK(rf_score(batch, &options, &out) == RF_OK);
    for (int i = 0; i < N; i++) CHECK(step_reward[i] == step_abs[i]);
    options.step_group_history = 1;
    CHECK(rf_score(batch, &options, &out) == RF_OK);
    /* (A, B) is rows 1 and 4, step rewards V(C) = 4 and V(D) = 0.5: mean 2.25. */
    CHECK(near(stepadv[1], 1.75) && near(stepadv[4], -1.75) && stepadv[5] == 0);
    options.step_group_similarity = 0.9;
    CHECK_ERROR(rf_score(batch, &options, &out), RF_ERR_INVALID_PARAMETER, "step_group_similarity");
    options.step_group_similarity = 0;
    options.step_group_history = -1;
    CHECK_ERROR(rf_score(batch, &options, &out), RF_ERR_INVALID_PARAMETER, "step_group_history");
    rf_options_init(&options);
    options.step_reward = "progress";
    CHECK_ERROR(rf_score(batch, &options, &out), RF_ERR_INVALID_PARAMETER, "goal-distance");
    options.step_reward = "sideways";
    CHECK_ERROR(rf_score(batch, &options, &out), RF_ERR_INVALID_PARAMETER, "step_reward");
    rf_options_init(&options);
    options.episode_weighting = "all";
    CHECK_ERROR(rf_score(batch, &options, &out), RF_ERR_INVALID_PARAMETER, "episode_weighting");
    /* A caller built before these fields: they are not read (so defaults). */
    options.struct_size = offsetof(rf_options, goal_reward);
    options.step_reward = "progress";
    CHECK(rf_score(batch, &options, &out) == RF_OK);
    for (int i = 0; i < N; i++) CHECK(near(value[i], want_value[i]) && near(step_reward[i], want_step[i]));
    rf_batch_destroy(batch);
}

static void test_errors(void) {
    double value[N] = {0};
    rf_outputs out = {N, value, NULL, NULL, NULL, NULL, NULL};
    rf_options options;
    rf_batch *batch = NULL;
    CHECK(rf_batch_create(&batch) == RF_OK);

    /* Misuse. */
    CHECK_ERROR(rf_batch_create(NULL), RF_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_ERROR(rf_batch_append(NULL, NULL), RF_ERR_INVALID_ARGUMENT, "batch");
    CHECK_ERROR(rf_batch_append(batch, NULL), RF_ERR_INVALID_ARGUMENT, "rows");
    CHECK_ERROR(rf_score(batch, NULL, NULL), RF_ERR_INVALID_ARGUMENT, "outputs");
    CHECK(rf_batch_count(NULL) == 0);
    rf_batch_destroy(NULL);

    column g, t, s, a;
    rf_rows rows = chain_rows(&g, &t, &s, &a, 0, N, 0);
    rf_rows bad = rows;
    bad.step = NULL;
    CHECK_ERROR(rf_batch_append(batch, &bad), RF_ERR_INVALID_ARGUMENT, "step");
    bad = rows;
    bad.state_key = keys;
    CHECK_ERROR(rf_batch_append(batch, &bad), RF_ERR_INVALID_ARGUMENT, "not both");
    bad = rows;
    bad.state.offsets = NULL;
    CHECK_ERROR(rf_batch_append(batch, &bad), RF_ERR_INVALID_ARGUMENT, "neither");
    int64_t decreasing[N + 1] = {0, 2, 1, 3, 4, 5, 6, 7};
    bad = rows;
    bad.group.offsets = decreasing;
    CHECK_ERROR(rf_batch_append(batch, &bad), RF_ERR_INVALID_ARGUMENT, "group: offsets decrease");
    CHECK(rf_batch_count(batch) == 0); /* misuse leaves the batch unchanged */

    /* Counts beyond the batch limit (2^31 - 2 rows), SIZE_MAX and 2^63 included, through both
     * append entry points; the real count and the limit are named. */
    bad = rows;
    bad.count = SIZE_MAX;
    CHECK_ERROR(rf_batch_append(batch, &bad), RF_ERR_INVALID_ARGUMENT, "count 18446744073709551615 is too large");
    CHECK_ERROR(rf_batch_append(batch, &bad), RF_ERR_INVALID_ARGUMENT, "at most 2147483646 rows");
    bad.count = (size_t)1 << 63;
    CHECK_ERROR(rf_batch_append(batch, &bad), RF_ERR_INVALID_ARGUMENT, "count 9223372036854775808 is too large");
    bad.count = (size_t)INT32_MAX;
    CHECK_ERROR(rf_batch_append(batch, &bad), RF_ERR_INVALID_ARGUMENT, "count 2147483647 is too large");
    rf_columns huge;
    memset(&huge, 0, sizeof huge);
    huge.count = SIZE_MAX;
    CHECK_ERROR(rf_batch_append_columns(batch, &huge), RF_ERR_INVALID_ARGUMENT, "count 18446744073709551615 is too large");
    huge.count = (size_t)1 << 63;
    CHECK_ERROR(rf_batch_append_columns(batch, &huge), RF_ERR_INVALID_ARGUMENT, "count 9223372036854775808 is too large");
    CHECK(rf_batch_count(batch) == 0);
    /* Steps: the limit is 2^31 - 1, named as such. */
    int64_t big_steps[N] = {0, 1, 2, 0, 1, 2, ((int64_t)1 << 32) + 2};
    bad = rows;
    bad.step = big_steps;
    CHECK_ERROR(rf_batch_append(batch, &bad), RF_ERR_INVALID_INPUT, "row 6: step: must be at most 2147483647 (2^31 − 1), got 4294967298");
    CHECK(rf_batch_clear(batch) == RF_OK);

    /* An empty batch is bad input (at score time). */
    CHECK_ERROR(rf_score(batch, NULL, &out), RF_ERR_INVALID_INPUT, "empty input");

    /* Options. */
    CHECK(rf_batch_append(batch, &rows) == RF_OK);
    rf_options_init(&options);
    options.gamma = 1.5;
    CHECK_ERROR(rf_score(batch, &options, &out), RF_ERR_INVALID_PARAMETER, "gamma");
    options.gamma = NAN;
    CHECK_ERROR(rf_score(batch, &options, &out), RF_ERR_INVALID_PARAMETER, "gamma");
    rf_options_init(&options);
    options.operator_name = "no-such-operator";
    CHECK_ERROR(rf_score(batch, &options, &out), RF_ERR_INVALID_PARAMETER, "unknown value 'no-such-operator'");
    rf_options_init(&options);
    options.advantage = "zscore";
    CHECK_ERROR(rf_score(batch, &options, &out), RF_ERR_INVALID_PARAMETER, "advantage");
    rf_options_init(&options);
    options.struct_size = 0;
    CHECK_ERROR(rf_score(batch, &options, &out), RF_ERR_INVALID_ARGUMENT, "struct_size");

    /* Similarity thresholds: 0 is off, (0, 1] accepted, anything else refused. */
    rf_options_init(&options);
    CHECK(options.similarity == 0 && options.step_group_similarity == 0);
    options.similarity = 1.5;
    CHECK_ERROR(rf_score(batch, &options, &out), RF_ERR_INVALID_PARAMETER, "similarity");
    options.similarity = NAN;
    CHECK_ERROR(rf_score(batch, &options, &out), RF_ERR_INVALID_PARAMETER, "similarity");
    rf_options_init(&options);
    options.step_group_similarity = -0.5;
    CHECK_ERROR(rf_score(batch, &options, &out), RF_ERR_INVALID_PARAMETER, "step_group_similarity");
    /* A caller built before the fields existed: they are not read (so off). */
    options.struct_size = offsetof(rf_options, similarity);
    CHECK(rf_score(batch, &options, &out) == RF_OK && near(value[0], 8.1));
    /* The chain's one-letter states share no character: T = 0.5 merges nothing. */
    rf_options_init(&options);
    options.similarity = 0.5;
    options.step_group_similarity = 1.0;
    CHECK(rf_score(batch, &options, &out) == RF_OK);
    for (int i = 0; i < N; i++) CHECK(near(value[i], want_value[i]));
    {
        rf_batch *keyed = NULL;
        column kg, kt, ks, ka;
        rf_rows by_key = chain_rows(&kg, &kt, &ks, &ka, 0, N, 1);
        CHECK(rf_batch_create(&keyed) == RF_OK && rf_batch_append(keyed, &by_key) == RF_OK);
        CHECK_ERROR(rf_score(keyed, &options, &out), RF_ERR_INVALID_PARAMETER, "state_key");
        free_column(kg); free_column(kt); free_column(ks); free_column(ka);
        rf_batch_destroy(keyed);
    }
    for (int i = 0; i < N; i++) value[i] = 0;
    rf_outputs small = {N - 1, value, NULL, NULL, NULL, NULL, NULL};
    CHECK_ERROR(rf_score(batch, NULL, &small), RF_ERR_INVALID_ARGUMENT, "capacity 6 is less than the batch's 7 rows");
    for (int i = 0; i < N; i++) CHECK(value[i] == 0); /* nothing written on failure */

    /* Switching state naming between appends. */
    bad = rows;
    bad.state.offsets = NULL;
    bad.state_key = keys;
    CHECK_ERROR(rf_batch_append(batch, &bad), RF_ERR_INVALID_ARGUMENT, "may not switch");

    /* Bad rows: NaN reward in batch row N + 1 (the second row of a second append). */
    double nan_rewards[N] = {0, NAN, 0, 0, 0, 0, 0};
    bad = rows;
    bad.reward = nan_rewards;
    CHECK_ERROR(rf_batch_append(batch, &bad), RF_ERR_INVALID_INPUT, "row 8: reward: not a finite number");
    CHECK_ERROR(rf_score(batch, NULL, &out), RF_ERR_INVALID_ARGUMENT, "failed append");
    CHECK(rf_batch_clear(batch) == RF_OK);

    /* Text that is not UTF-8. */
    char bytes[] = {'A', (char)0xff};
    int64_t offsets[N + 1] = {0, 1, 2, 2, 2, 2, 2, 2};
    bad = rows;
    bad.state.data = bytes;
    bad.state.offsets = offsets;
    CHECK_ERROR(rf_batch_append(batch, &bad), RF_ERR_INVALID_INPUT, "row 1: state: not valid UTF-8");
    CHECK(rf_batch_clear(batch) == RF_OK);

    /* A step gap and a row active again after an inactive one (found at score time). */
    int64_t gap[N] = {0, 1, 3, 0, 1, 2, 3};
    bad = rows;
    bad.step = gap;
    CHECK(rf_batch_append(batch, &bad) == RF_OK);
    CHECK_ERROR(rf_score(batch, NULL, &out), RF_ERR_INVALID_INPUT, "step");
    CHECK(rf_batch_clear(batch) == RF_OK);
    uint8_t reactivated[N] = {1, 0, 1, 1, 1, 1, 1};
    bad = rows;
    bad.active = reactivated;
    CHECK(rf_batch_append(batch, &bad) == RF_OK);
    CHECK_ERROR(rf_score(batch, NULL, &out), RF_ERR_INVALID_INPUT, "active");
    int64_t negative[N] = {0, -1, 2, 0, 1, 2, 3};
    bad = rows;
    bad.step = negative;
    CHECK(rf_batch_clear(batch) == RF_OK);
    CHECK_ERROR(rf_batch_append(batch, &bad), RF_ERR_INVALID_INPUT, "row 1: step");

    free_column(g);
    free_column(t);
    free_column(s);
    free_column(a);
    rf_batch_destroy(batch);
}

enum { THREADS = 4, ROUNDS = 50 };

typedef struct {
    rf_batch *batch;
    int id;
    int failures;
} worker;

/* Scores the shared batch ROUNDS times (results must not vary) and fails a call with an
 * option of its own, whose message must be this thread's. */
static void *work(void *arg) {
    worker *w = arg;
    char name[32], needle[48];
    snprintf(name, sizeof name, "op-of-thread-%d", w->id);
    snprintf(needle, sizeof needle, "'%s'", name);
    for (int round = 0; round < ROUNDS; round++) {
        double value[N];
        rf_outputs out = {N, value, NULL, NULL, NULL, NULL, NULL};
        rf_options options;
        rf_options_init(&options);
        if (rf_score(w->batch, &options, &out) != RF_OK) w->failures++;
        for (int i = 0; i < N; i++) if (!near(value[i], want_value[i])) w->failures++;
        options.operator_name = name;
        if (rf_score(w->batch, &options, &out) != RF_ERR_INVALID_PARAMETER ||
            strstr(rf_last_error(), needle) == NULL) w->failures++;
    }
    return NULL;
}

static void test_threads(void) {
    rf_batch *batch = NULL;
    CHECK(rf_batch_create(&batch) == RF_OK);
    CHECK(append_range(batch, 0, N, 0) == RF_OK);
    pthread_t threads[THREADS];
    worker workers[THREADS];
    for (int t = 0; t < THREADS; t++) {
        workers[t] = (worker){batch, t, 0};
        CHECK(pthread_create(&threads[t], NULL, work, &workers[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(threads[t], NULL) == 0);
        CHECK(workers[t].failures == 0);
    }
    rf_batch_destroy(batch);
}


/* rf_batch_append_columns: strings as views where they lie (here: the literals), mixed with
 * the offsets layout, give the same results; bad views are argument errors. */
static void views_of(const char **strings, rf_string_view *out) {
    for (int i = 0; i < N; i++) out[i] = (rf_string_view){strings[i], (int64_t)strlen(strings[i])};
}

static void test_views(void) {
    rf_string_view g[N], t[N], s[N], a[N];
    views_of(groups, g);
    views_of(trajs, t);
    views_of(states, s);
    views_of(actions, a);
    column cg = make_column(groups, N);
    rf_columns columns = {
        .count = N,
        .group = {.layout = RF_STRINGS_OFFSETS, .data = cg.data, .offsets = cg.offsets},
        .trajectory = {.layout = RF_STRINGS_VIEWS, .views = t},
        .state = {.layout = RF_STRINGS_VIEWS, .views = s},
        .action = {.layout = RF_STRINGS_VIEWS, .views = a},
        .step = steps, .reward = rewards, .active = active,
    };
    rf_batch *batch = NULL;
    CHECK(rf_batch_create(&batch) == RF_OK);
    CHECK(rf_batch_append_columns(batch, &columns) == RF_OK);
    check_chain(batch, "views");

    rf_batch *other = NULL;
    CHECK(rf_batch_create(&other) == RF_OK);
    rf_columns bad = columns;
    bad.group = (rf_string_column){.layout = RF_STRINGS_VIEWS, .views = g};
    g[3].length = -1;
    CHECK_ERROR(rf_batch_append_columns(other, &bad), RF_ERR_INVALID_ARGUMENT, "group: view 3 has a negative length");
    g[3] = (rf_string_view){NULL, 2};
    CHECK_ERROR(rf_batch_append_columns(other, &bad), RF_ERR_INVALID_ARGUMENT, "group: view 3 has a NULL pointer");
    bad.group.views = NULL;
    CHECK_ERROR(rf_batch_append_columns(other, &bad), RF_ERR_INVALID_ARGUMENT, "group: views are NULL");
    bad.group.layout = 7;
    CHECK_ERROR(rf_batch_append_columns(other, &bad), RF_ERR_INVALID_ARGUMENT, "group: unknown layout 7");
    bad = columns;
    bad.state_key = keys;
    CHECK_ERROR(rf_batch_append_columns(other, &bad), RF_ERR_INVALID_ARGUMENT, "either state or state_key");
    bad.state.layout = RF_STRINGS_NONE;
    bad.trajectory.layout = RF_STRINGS_NONE;
    CHECK_ERROR(rf_batch_append_columns(other, &bad), RF_ERR_INVALID_ARGUMENT, "trajectory: the column is absent");
    CHECK_ERROR(rf_batch_append_columns(other, NULL), RF_ERR_INVALID_ARGUMENT, "columns: NULL");
    CHECK(rf_batch_count(other) == 0);
    /* A string that is not UTF-8 is an input error naming its row; it marks the batch broken. */
    bad = columns;
    rf_string_view broken[N];
    views_of(states, broken);
    broken[5] = (rf_string_view){"\xff", 1};
    bad.state.views = broken;
    CHECK_ERROR(rf_batch_append_columns(other, &bad), RF_ERR_INVALID_INPUT, "row 5: state: not valid UTF-8");
    CHECK_ERROR(rf_score(other, NULL, &(rf_outputs){0}), RF_ERR_INVALID_ARGUMENT, "unusable");
    char *json = (char *)"unset";
    CHECK_ERROR(rf_statistics_json(other, NULL, &json), RF_ERR_INVALID_ARGUMENT, "unusable");
    CHECK(json == NULL);
    rf_batch_destroy(other);
    /* The statistics of the chain batch: 7 rows, 2 trajectories, 5 states. */
    CHECK(rf_statistics_json(batch, NULL, &json) == RF_OK && json != NULL);
    CHECK(strstr(json, "\"schema\": \"rewardflow.stats/1\"") != NULL);
    CHECK(strstr(json, "\"rows\": 7") != NULL && strstr(json, "\"trajectories\": 2") != NULL);
    CHECK(strstr(json, "\"distinct_states\": 5") != NULL);
    rf_free(json);
    rf_free(NULL);
    CHECK_ERROR(rf_statistics_json(batch, NULL, NULL), RF_ERR_INVALID_ARGUMENT, "json: NULL");
    rf_batch_destroy(batch);
    free_column(cg);
}

/* Every struct_size from 0 to sizeof + 8: below 8 bytes (struct_size itself) an argument error;
 * otherwise exactly the fields wholly inside struct_size are the caller's and the rest are
 * defaults (compared bit for bit with a full-size struct built that way). The caller's bytes
 * past struct_size hold other valid values, so a half-copied field shows up as a crash or a
 * different result. */
static void test_struct_size(void) {
    column g, t, s, a;
    rf_rows rows = chain_rows(&g, &t, &s, &a, 0, N, 0);
    rf_batch *batch = NULL;
    CHECK(rf_batch_create(&batch) == RF_OK);
    CHECK(rf_batch_append(batch, &rows) == RF_OK);

    rf_options mine;
    rf_options_init(&mine);
    mine.operator_name = "discounted";
    mine.gamma = 0.5;
    mine.alpha = 0.25;
    mine.solver = "iterative";
    mine.tolerance = 1e-3;
    mine.max_iterations = 500;
    mine.node_reward = "max";
    mine.advantage = "mean_std_norm";
    mine.step_weight = 2.5;
    rf_options defaults;
    rf_options_init(&defaults);
    CHECK(defaults.struct_size == sizeof(rf_options));

    static const struct { size_t offset, size; } fields[] = {
        {offsetof(rf_options, operator_name), sizeof(const char *)},
        {offsetof(rf_options, gamma), sizeof(double)},
        {offsetof(rf_options, alpha), sizeof(double)},
        {offsetof(rf_options, solver), sizeof(const char *)},
        {offsetof(rf_options, tolerance), sizeof(double)},
        {offsetof(rf_options, max_iterations), sizeof(int64_t)},
        {offsetof(rf_options, node_reward), sizeof(const char *)},
        {offsetof(rf_options, advantage), sizeof(const char *)},
        {offsetof(rf_options, step_weight), sizeof(double)},
    };
    /* Room for a caller built against a longer struct (8 bytes more than this header's). */
    union {
        rf_options options;
        unsigned char bytes[sizeof(rf_options) + 8];
    } given;
    for (size_t size = 0; size <= sizeof(rf_options) + 8; size++) {
        memset(given.bytes, 0x5A, sizeof given.bytes);
        given.options = mine;
        given.options.struct_size = size;
        rf_options expected = defaults;
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            if (fields[f].offset + fields[f].size <= size) {
                memcpy((char *)&expected + fields[f].offset, (const char *)&mine + fields[f].offset, fields[f].size);
            }
        }
        double got_v[N], got_a[N], want_v[N], want_a[N];
        rf_outputs got = {N, got_v, NULL, NULL, NULL, NULL, got_a};
        rf_outputs want = {N, want_v, NULL, NULL, NULL, NULL, want_a};
        rf_status status = rf_score(batch, &given.options, &got);
        if (size < sizeof(size_t)) {
            if (status != RF_ERR_INVALID_ARGUMENT || strstr(rf_last_error(), "struct_size") == NULL) {
                fprintf(stderr, "struct_size %zu: status %d, \"%s\"\n", size, (int)status, rf_last_error());
                failures++;
            }
            continue;
        }
        rf_status want_status = rf_score(batch, &expected, &want);
        if (status != want_status || (status == RF_OK && (memcmp(got_v, want_v, sizeof got_v) != 0 ||
                                                          memcmp(got_a, want_a, sizeof got_a) != 0))) {
            fprintf(stderr, "struct_size %zu: status %d (\"%s\"), want %d\n", size, (int)status,
                    status == RF_OK ? "" : rf_last_error(), (int)want_status);
            failures++;
        }
    }
    free_column(g);
    free_column(t);
    free_column(s);
    free_column(a);
    rf_batch_destroy(batch);
}

/* rf_options_init never writes past the caller's struct: the 0.1 entry point writes 80 bytes,
 * the sized one min(size, sizeof); a canary after the struct stays intact. */
static void test_options_init_bounds(void) {
    unsigned char buffer[sizeof(rf_options) + 32];
    memset(buffer, 0xAB, sizeof buffer);
    (rf_options_init)((rf_options *)buffer); /* the function, not the macro: a 0.1 caller */
    rf_options first;
    memcpy(&first, buffer, 80);
    CHECK(first.struct_size == 80 && first.gamma == 0.9 && first.step_weight == 1.0);
    for (size_t i = 80; i < sizeof buffer; i++) CHECK(buffer[i] == 0xAB);
    for (size_t size = 0; size <= sizeof(rf_options) + 16; size++) {
        memset(buffer, 0xAB, sizeof buffer);
        rf_options_init_sized((rf_options *)buffer, size);
        size_t written = size < sizeof(size_t) ? 0 : (size < sizeof(rf_options) ? size : sizeof(rf_options));
        for (size_t i = written; i < sizeof buffer; i++) CHECK(buffer[i] == 0xAB);
        if (written) CHECK(((rf_options *)buffer)->struct_size == written);
    }
    rf_options full;
    rf_options_init(&full);
    CHECK(full.struct_size == sizeof(rf_options) && full.goal_reward == 10.0 && full.episode_weight == 1.0);
}

int main(void) {
    CHECK(rf_abi_version() == RF_ABI_VERSION);
    CHECK(strlen(rf_version()) > 0);
    CHECK(strstr(rf_operators(), "max-decay") != NULL);
    CHECK(strstr(rf_operators(), "trajectory-return") != NULL);
    CHECK(strcmp(rf_last_error(), "") == 0);
    test_results();
    test_errors();
    test_credit_options();
    test_views();
    test_options_init_bounds();
    test_struct_size();
    test_threads();
    if (failures == 0) {
        printf("rewardflow C API (%s; operators %s): all checks passed\n", rf_version(), rf_operators());
        return 0;
    }
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
}
