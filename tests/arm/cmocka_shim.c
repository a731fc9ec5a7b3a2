/*
 * The runner and assertions behind tests/arm/include/cmocka.h: see there. Single-threaded, one
 * group per image (each test file is its own image with its own main()).
 */
#include <stdio.h>
#include <string.h>

#include "cmocka.h"

enum { RESULT_PASS, RESULT_FAIL, RESULT_SKIP };

static jmp_buf *cm_jump;     /* where a failed assertion or skip() goes; NULL outside a test */
static int cm_result;

void print_message(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vprintf(format, ap);
    va_end(ap);
    fflush(stdout);
}

/* Errors go to stdout as well, so that they stay in order with the progress lines. */
void print_error(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vprintf(format, ap);
    va_end(ap);
    fflush(stdout);
}

static void cm_stop(int result, const char *file, int line) __attribute__((noreturn));
static void cm_stop(int result, const char *file, int line)
{
    if (result == RESULT_FAIL) {
        print_error("[   LINE   ] --- %s:%d: error: Failure!\n", file, line);
    }
    if (cm_jump == NULL) {
        print_error("[  ERROR   ] --- assertion outside a test: exiting\n");
        exit(1);
    }
    cm_result = result;
    longjmp(*cm_jump, 1);
}

void _fail(const char *file, int line)
{
    cm_stop(RESULT_FAIL, file, line);
}

void _skip(const char *file, int line)
{
    cm_stop(RESULT_SKIP, file, line);
}

void _assert_true(LargestIntegralType result, const char *expression, const char *file, int line)
{
    if (!result) {
        print_error("[  ERROR   ] --- %s\n", expression);
        cm_stop(RESULT_FAIL, file, line);
    }
}

void _assert_return_code(LargestIntegralType result, size_t rlen, LargestIntegralType error,
                         const char *expression, const char *file, int line)
{
    /* Sign-extend result from its own width, as cmocka does. */
    long long value = (long long)result;
    if (rlen < sizeof(LargestIntegralType)) {
        unsigned bits = (unsigned)rlen * 8u;
        LargestIntegralType sign = (LargestIntegralType)1 << (bits - 1u);
        LargestIntegralType mask = ((LargestIntegralType)1 << bits) - 1u;
        LargestIntegralType v = result & mask;
        value = (v & sign) ? (long long)(v | ~mask) : (long long)v;
    }
    if (value < 0) {
        print_error("[  ERROR   ] --- %s < 0, errno(%llu): %s\n", expression, error,
                    strerror((int)error));
        cm_stop(RESULT_FAIL, file, line);
    }
}

static void print_pair(LargestIntegralType a, const char *op, LargestIntegralType b)
{
    print_error("[  ERROR   ] --- %lld (%#llx) %s %lld (%#llx)\n",
                (long long)a, a, op, (long long)b, b);
}

void _assert_int_equal(LargestIntegralType a, LargestIntegralType b, const char *file, int line)
{
    if (a != b) {
        print_pair(a, "!=", b);
        cm_stop(RESULT_FAIL, file, line);
    }
}

void _assert_int_not_equal(LargestIntegralType a, LargestIntegralType b, const char *file, int line)
{
    if (a == b) {
        print_pair(a, "==", b);
        cm_stop(RESULT_FAIL, file, line);
    }
}

void _assert_string_equal(const char *a, const char *b, const char *file, int line)
{
    if (a == NULL || b == NULL ? a != b : strcmp(a, b) != 0) {
        print_error("[  ERROR   ] --- \"%s\" != \"%s\"\n", a ? a : "(null)", b ? b : "(null)");
        cm_stop(RESULT_FAIL, file, line);
    }
}

void _assert_string_not_equal(const char *a, const char *b, const char *file, int line)
{
    if (a == NULL || b == NULL ? a == b : strcmp(a, b) == 0) {
        print_error("[  ERROR   ] --- \"%s\" == \"%s\"\n", a ? a : "(null)", b ? b : "(null)");
        cm_stop(RESULT_FAIL, file, line);
    }
}

void _assert_memory_equal(const void *a, const void *b, size_t size, const char *file, int line)
{
    const unsigned char *x = a, *y = b;
    size_t i, differ = 0;
    for (i = 0; i < size; i++) {
        if (x[i] != y[i]) {
            if (differ < 16) {
                print_error("[  ERROR   ] --- difference at offset %lu 0x%02x 0x%02x\n", (unsigned long)i, x[i], y[i]);
            }
            differ++;
        }
    }
    if (differ) {
        print_error("[  ERROR   ] --- %lu bytes of %p and %p differ\n", (unsigned long)differ, a, b);
        cm_stop(RESULT_FAIL, file, line);
    }
}

void _assert_memory_not_equal(const void *a, const void *b, size_t size, const char *file, int line)
{
    if (memcmp(a, b, size) == 0) {
        print_error("[  ERROR   ] --- %lu bytes of %p and %p are the same\n", (unsigned long)size, a, b);
        cm_stop(RESULT_FAIL, file, line);
    }
}

void _assert_in_range(LargestIntegralType value, LargestIntegralType minimum,
                      LargestIntegralType maximum, const char *file, int line)
{
    if (value < minimum || value > maximum) {
        print_error("[  ERROR   ] --- %llu is not within the range %llu-%llu\n",
                    value, minimum, maximum);
        cm_stop(RESULT_FAIL, file, line);
    }
}

void _assert_not_in_range(LargestIntegralType value, LargestIntegralType minimum,
                          LargestIntegralType maximum, const char *file, int line)
{
    if (value >= minimum && value <= maximum) {
        print_error("[  ERROR   ] --- %llu is within the range %llu-%llu\n",
                    value, minimum, maximum);
        cm_stop(RESULT_FAIL, file, line);
    }
}

static int in_set(LargestIntegralType value, const LargestIntegralType values[], size_t count)
{
    size_t i;
    for (i = 0; i < count; i++) {
        if (values[i] == value) {
            return 1;
        }
    }
    return 0;
}

void _assert_in_set(LargestIntegralType value, const LargestIntegralType values[], size_t count,
                    const char *file, int line)
{
    if (!in_set(value, values, count)) {
        print_error("[  ERROR   ] --- %llu is not within the set\n", value);
        cm_stop(RESULT_FAIL, file, line);
    }
}

void _assert_not_in_set(LargestIntegralType value, const LargestIntegralType values[], size_t count,
                        const char *file, int line)
{
    if (in_set(value, values, count)) {
        print_error("[  ERROR   ] --- %llu is in the set\n", value);
        cm_stop(RESULT_FAIL, file, line);
    }
}

/* ---- Mock queues: a fixed pool, cleared after every test ---------------------------------- */

enum { CM_QUEUE_MAX = 256 };
enum { KIND_RETURN = 100, KIND_CALL = 101 };

struct cm_entry {
    const char *function;  /* NULL: free slot */
    const char *parameter; /* for checks */
    const char *file;
    int line;
    int kind;   /* 0 value, 1 not value, 2 any, 3 memory, 4 string, KIND_RETURN, KIND_CALL */
    int count;  /* remaining uses; -1 always, -2 maybe (always, none required) */
    LargestIntegralType value;
    const void *data;
    size_t size;
};

static struct cm_entry cm_queue[CM_QUEUE_MAX];

static void cm_add(const struct cm_entry *e)
{
    size_t i;
    for (i = 0; i < CM_QUEUE_MAX; i++) {
        if (cm_queue[i].function == NULL) {
            cm_queue[i] = *e;
            return;
        }
    }
    print_error("[  ERROR   ] --- tests/arm/cmocka_shim.c: more than %d queued mock values\n",
                CM_QUEUE_MAX);
    cm_stop(RESULT_FAIL, e->file, e->line);
}

/* The oldest queued entry of this kind for function (and parameter). */
static struct cm_entry *cm_find(const char *function, const char *parameter, int returns, int calls)
{
    size_t i;
    for (i = 0; i < CM_QUEUE_MAX; i++) {
        struct cm_entry *e = &cm_queue[i];
        if (e->function == NULL || strcmp(e->function, function) != 0) {
            continue;
        }
        if (returns ? e->kind == KIND_RETURN
                    : calls ? e->kind == KIND_CALL
                            : (e->kind < KIND_RETURN && strcmp(e->parameter, parameter) == 0)) {
            return e;
        }
    }
    return NULL;
}

static void cm_use(struct cm_entry *e)
{
    if (e->count > 0 && --e->count == 0) {
        e->function = NULL;
    }
}

void _will_return(const char *function, const char *file, int line, LargestIntegralType value,
                  int count)
{
    struct cm_entry e = {function, "", file, line, KIND_RETURN, count, value, NULL, 0};
    cm_add(&e);
}

LargestIntegralType _mock(const char *function, const char *file, int line)
{
    struct cm_entry *e = cm_find(function, NULL, 1, 0);
    LargestIntegralType value;
    if (e == NULL) {
        print_error("[  ERROR   ] --- no more mock values to return for %s\n", function);
        cm_stop(RESULT_FAIL, file, line);
    }
    value = e->value;
    cm_use(e);
    return value;
}

void _expect_check(const char *function, const char *parameter, const char *file, int line,
                   int kind, LargestIntegralType value, const void *data, size_t size, int count)
{
    struct cm_entry e = {function, parameter, file, line, kind, count, value, data, size};
    cm_add(&e);
}

void _check_expected(const char *function, const char *parameter, const char *file, int line,
                     LargestIntegralType value)
{
    struct cm_entry *e = cm_find(function, parameter, 0, 0);
    int ok;
    if (e == NULL) {
        print_error("[  ERROR   ] --- %s: no expected value queued for parameter %s\n", function,
                    parameter);
        cm_stop(RESULT_FAIL, file, line);
    }
    switch (e->kind) {
    case 0: ok = value == e->value; break;
    case 1: ok = value != e->value; break;
    case 2: ok = 1; break;
    case 3: ok = memcmp((const void *)(uintptr_t)value, e->data, e->size) == 0; break;
    default: ok = strcmp((const char *)(uintptr_t)value, (const char *)e->data) == 0; break;
    }
    if (!ok) {
        print_error("[  ERROR   ] --- %s: parameter %s is %lld (%#llx), not as"
                    " expected at %s:%d\n", function, parameter, (long long)value, value, e->file,
                    e->line);
        cm_stop(RESULT_FAIL, file, line);
    }
    cm_use(e);
}

void _expect_call(const char *function, const char *file, int line, int count)
{
    struct cm_entry e = {function, "", file, line, KIND_CALL, count, 0, NULL, 0};
    cm_add(&e);
}

void _function_called(const char *function, const char *file, int line)
{
    struct cm_entry *e = cm_find(function, NULL, 0, 1);
    if (e == NULL) {
        print_error("[  ERROR   ] --- %s was called more often than expected\n", function);
        cm_stop(RESULT_FAIL, file, line);
    }
    cm_use(e);
}

/* After a test: everything queued must have been used (except "always"/"maybe" entries). */
static int cm_check_leftovers(void)
{
    size_t i;
    int bad = 0;
    for (i = 0; i < CM_QUEUE_MAX; i++) {
        struct cm_entry *e = &cm_queue[i];
        if (e->function != NULL && e->count > 0) {
            print_error("[  ERROR   ] --- %s: %d queued %s%s not used (queued at %s:%d)\n",
                        e->function, e->count,
                        e->kind == KIND_RETURN ? "return value(s)"
                                               : e->kind == KIND_CALL ? "call(s)" : "check(s) of ",
                        e->kind < KIND_RETURN ? e->parameter : "", e->file, e->line);
            bad = 1;
        }
    }
    memset(cm_queue, 0, sizeof cm_queue);
    return bad;
}

/* ---- Runner -------------------------------------------------------------------------------- */

/* Runs a fixture or a test under a jump point; returns RESULT_*. */
static int cm_call(CMUnitTestFunction test, CMFixtureFunction fixture, void **state)
{
    jmp_buf here;
    cm_result = RESULT_PASS;
    cm_jump = &here;
    if (setjmp(here) == 0) {
        if (test != NULL) {
            test(state);
        } else if (fixture(state) != 0) {
            cm_result = RESULT_FAIL;
        }
    }
    cm_jump = NULL;
    return cm_result;
}

int _cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *tests, size_t count,
                            CMFixtureFunction group_setup, CMFixtureFunction group_teardown)
{
    void *group_state = NULL;
    size_t i;
    unsigned long passed = 0, failed = 0, skipped = 0;
    static unsigned char failed_flags[1024];
    static unsigned char skipped_flags[1024];

    memset(failed_flags, 0, sizeof failed_flags);
    memset(skipped_flags, 0, sizeof skipped_flags);
    print_message("[==========] %s: Running %lu test(s).\n", group_name, (unsigned long)count);
    if (group_setup != NULL && cm_call(NULL, group_setup, &group_state) != RESULT_PASS) {
        print_error("[  ERROR   ] --- %s: group setup failed\n", group_name);
        print_message("[  FAILED  ] %s: %lu test(s) not run.\n", group_name, (unsigned long)count);
        return count > 0 ? (int)count : 1;
    }
    for (i = 0; i < count; i++) {
        const struct CMUnitTest *t = &tests[i];
        void *state = t->initial_state != NULL ? t->initial_state : group_state;
        int r = RESULT_PASS;
        print_message("[ RUN      ] %s\n", t->name);
        if (t->setup_func != NULL) {
            r = cm_call(NULL, t->setup_func, &state);
            if (r == RESULT_FAIL) {
                print_error("[  ERROR   ] --- test setup failed\n");
            }
        }
        if (r == RESULT_PASS) {
            r = cm_call(t->test_func, NULL, &state);
            if (r == RESULT_PASS && cm_check_leftovers()) {
                r = RESULT_FAIL;
            }
            if (t->teardown_func != NULL && cm_call(NULL, t->teardown_func, &state) == RESULT_FAIL) {
                print_error("[  ERROR   ] --- test teardown failed\n");
                r = RESULT_FAIL;
            }
        }
        memset(cm_queue, 0, sizeof cm_queue);
        if (r == RESULT_PASS) {
            print_message("[       OK ] %s\n", t->name);
            passed++;
        } else if (r == RESULT_SKIP) {
            print_message("[  SKIPPED ] %s\n", t->name);
            skipped++;
            if (i < sizeof skipped_flags) {
                skipped_flags[i] = 1;
            }
        } else {
            print_message("[  FAILED  ] %s\n", t->name);
            failed++;
            if (i < sizeof failed_flags) {
                failed_flags[i] = 1;
            }
        }
    }
    if (group_teardown != NULL && cm_call(NULL, group_teardown, &group_state) != RESULT_PASS) {
        print_error("[  ERROR   ] --- %s: group teardown failed\n", group_name);
        failed++;
    }
    print_message("[==========] %s: %lu test(s) run.\n", group_name, (unsigned long)count);
    print_message("[  PASSED  ] %lu test(s).\n", passed);
    if (skipped) {
        print_message("[  SKIPPED ] %lu test(s), listed below:\n", skipped);
        for (i = 0; i < count && i < sizeof skipped_flags; i++) {
            if (skipped_flags[i]) {
                print_message("[  SKIPPED ] %s\n", tests[i].name);
            }
        }
    }
    if (failed) {
        print_message("[  FAILED  ] %lu test(s), listed below:\n", failed);
        for (i = 0; i < count && i < sizeof failed_flags; i++) {
            if (failed_flags[i]) {
                print_message("[  FAILED  ] %s\n", tests[i].name);
            }
        }
        print_message("\n %lu FAILED TEST(S)\n", failed);
    }
    return (int)failed;
}
