/*
 * A minimal stand-in for cmocka (https://cmocka.org) on bare-metal Arm, where the library does not
 * exist: the subset of its API that ward's agent tests use, with the same names and meanings, so
 * the same test files (tests/unit/agent/test_*.c) build unchanged for the host with the real
 * cmocka and for QEMU mps2-an386 with this header (scripts/arm-test, docs/agent-size.md).
 *
 * Output imitates cmocka's default format; _cmocka_run_group_tests() returns the number of failed
 * tests, which main() returns and the startup code hands to exit(), so QEMU exits non-zero.
 *
 * An assertion that fails prints where and why, then longjmp()s out of the test (as cmocka does
 * without fork), runs the teardown and marks the test failed. A cmocka function or macro missing
 * here fails at compile time with its name: add it here, following cmocka 1.1's semantics.
 */
#ifndef WARD_ARM_CMOCKA_H
#define WARD_ARM_CMOCKA_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- Types ------------------------------------------------------------------------------- */

typedef unsigned long long LargestIntegralType; /* 64 bits, as cmocka on 32-bit targets */
#define cast_to_largest_integral_type(value) ((LargestIntegralType)(value))
#define cast_ptr_to_largest_integral_type(value) \
    ((LargestIntegralType)(uintptr_t)(const void *)(value))

typedef void (*CMUnitTestFunction)(void **state);
typedef int (*CMFixtureFunction)(void **state);

struct CMUnitTest {
    const char *name;
    CMUnitTestFunction test_func;
    CMFixtureFunction setup_func;
    CMFixtureFunction teardown_func;
    void *initial_state;
};

/* ---- Test tables and runner ------------------------------------------------------------- */

#define cmocka_unit_test(f) {#f, f, NULL, NULL, NULL}
#define cmocka_unit_test_setup(f, setup) {#f, f, setup, NULL, NULL}
#define cmocka_unit_test_teardown(f, teardown) {#f, f, NULL, teardown, NULL}
#define cmocka_unit_test_setup_teardown(f, setup, teardown) {#f, f, setup, teardown, NULL}
#define cmocka_unit_test_prestate(f, state) {#f, f, NULL, NULL, state}
#define cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, state) \
    {#f, f, setup, teardown, state}

#define cmocka_run_group_tests(group_tests, group_setup, group_teardown)                        \
    _cmocka_run_group_tests(#group_tests, group_tests, sizeof(group_tests) / sizeof((group_tests)[0]), \
                            group_setup, group_teardown)
#define cmocka_run_group_tests_name(group_name, group_tests, group_setup, group_teardown)       \
    _cmocka_run_group_tests(group_name, group_tests, sizeof(group_tests) / sizeof((group_tests)[0]), \
                            group_setup, group_teardown)

int _cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *tests, size_t count,
                            CMFixtureFunction group_setup, CMFixtureFunction group_teardown);

/* Output format selection: only the default (standard) output exists here. */
enum cm_message_output { CM_OUTPUT_STDOUT, CM_OUTPUT_SUBUNIT, CM_OUTPUT_TAP, CM_OUTPUT_XML };
#define cmocka_set_message_output(output) ((void)(output))
#define cmocka_set_test_filter(pattern) ((void)(pattern))
#define cmocka_set_skip_filter(pattern) ((void)(pattern))

/* ---- Assertions ------------------------------------------------------------------------- */

#define assert_true(c) _assert_true(cast_to_largest_integral_type(!!(c)), #c, __FILE__, __LINE__)
#define assert_false(c) _assert_true(cast_to_largest_integral_type(!(c)), "!(" #c ")", __FILE__, __LINE__)
#define assert_return_code(rc, error)                                                          \
    _assert_return_code(cast_to_largest_integral_type(rc), sizeof(rc),                          \
                        cast_to_largest_integral_type(error), #rc, __FILE__, __LINE__)
#define assert_non_null(c) _assert_true(cast_ptr_to_largest_integral_type(c), #c, __FILE__, __LINE__)
#define assert_null(c) _assert_true(cast_to_largest_integral_type(!(c)), #c " == NULL", __FILE__, __LINE__)
#define assert_ptr_equal(a, b)                                                                  \
    _assert_int_equal(cast_ptr_to_largest_integral_type(a), cast_ptr_to_largest_integral_type(b), \
                      __FILE__, __LINE__)
#define assert_ptr_not_equal(a, b)                                                              \
    _assert_int_not_equal(cast_ptr_to_largest_integral_type(a),                                 \
                          cast_ptr_to_largest_integral_type(b), __FILE__, __LINE__)
#define assert_int_equal(a, b)                                                                  \
    _assert_int_equal(cast_to_largest_integral_type(a), cast_to_largest_integral_type(b),       \
                      __FILE__, __LINE__)
#define assert_int_not_equal(a, b)                                                              \
    _assert_int_not_equal(cast_to_largest_integral_type(a), cast_to_largest_integral_type(b),   \
                          __FILE__, __LINE__)
#define assert_uint_equal assert_int_equal
#define assert_uint_not_equal assert_int_not_equal
#define assert_string_equal(a, b)                                                               \
    _assert_string_equal((const char *)(a), (const char *)(b), __FILE__, __LINE__)
#define assert_string_not_equal(a, b)                                                           \
    _assert_string_not_equal((const char *)(a), (const char *)(b), __FILE__, __LINE__)
#define assert_memory_equal(a, b, size)                                                         \
    _assert_memory_equal((const void *)(a), (const void *)(b), (size_t)(size), __FILE__, __LINE__)
#define assert_memory_not_equal(a, b, size)                                                     \
    _assert_memory_not_equal((const void *)(a), (const void *)(b), (size_t)(size), __FILE__,     \
                             __LINE__)
#define assert_in_range(value, minimum, maximum)                                                \
    _assert_in_range(cast_to_largest_integral_type(value), cast_to_largest_integral_type(minimum), \
                     cast_to_largest_integral_type(maximum), __FILE__, __LINE__)
#define assert_not_in_range(value, minimum, maximum)                                            \
    _assert_not_in_range(cast_to_largest_integral_type(value),                                  \
                         cast_to_largest_integral_type(minimum),                                \
                         cast_to_largest_integral_type(maximum), __FILE__, __LINE__)
#define assert_in_set(value, values, number_of_values)                                          \
    _assert_in_set(cast_to_largest_integral_type(value), values, number_of_values, __FILE__, __LINE__)
#define assert_not_in_set(value, values, number_of_values)                                      \
    _assert_not_in_set(cast_to_largest_integral_type(value), values, number_of_values, __FILE__, \
                       __LINE__)

#define fail() _fail(__FILE__, __LINE__)
#define fail_msg(msg, ...)                                                                      \
    do {                                                                                        \
        print_error("ERROR: " msg "\n", ##__VA_ARGS__);                                         \
        fail();                                                                                 \
    } while (0)
#define skip() _skip(__FILE__, __LINE__)

void _assert_true(LargestIntegralType result, const char *expression, const char *file, int line);
void _assert_return_code(LargestIntegralType result, size_t rlen, LargestIntegralType error,
                         const char *expression, const char *file, int line);
void _assert_int_equal(LargestIntegralType a, LargestIntegralType b, const char *file, int line);
void _assert_int_not_equal(LargestIntegralType a, LargestIntegralType b, const char *file, int line);
void _assert_string_equal(const char *a, const char *b, const char *file, int line);
void _assert_string_not_equal(const char *a, const char *b, const char *file, int line);
void _assert_memory_equal(const void *a, const void *b, size_t size, const char *file, int line);
void _assert_memory_not_equal(const void *a, const void *b, size_t size, const char *file, int line);
void _assert_in_range(LargestIntegralType value, LargestIntegralType minimum,
                      LargestIntegralType maximum, const char *file, int line);
void _assert_not_in_range(LargestIntegralType value, LargestIntegralType minimum,
                          LargestIntegralType maximum, const char *file, int line);
void _assert_in_set(LargestIntegralType value, const LargestIntegralType values[], size_t count,
                    const char *file, int line);
void _assert_not_in_set(LargestIntegralType value, const LargestIntegralType values[], size_t count,
                        const char *file, int line);
void _fail(const char *file, int line) __attribute__((noreturn));
void _skip(const char *file, int line) __attribute__((noreturn));

void print_message(const char *format, ...) __attribute__((format(printf, 1, 2)));
void print_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* ---- Mock values and parameter checks (a queue per function name, as in cmocka) ---------- */

#define will_return(function, value) _will_return(#function, __FILE__, __LINE__, \
                                                  cast_to_largest_integral_type(value), 1)
#define will_return_count(function, value, count)                                               \
    _will_return(#function, __FILE__, __LINE__, cast_to_largest_integral_type(value), count)
#define will_return_always(function, value) will_return_count(function, value, -1)
#define will_return_maybe(function, value) will_return_count(function, value, -2)
#define mock() _mock(__func__, __FILE__, __LINE__)
#define mock_type(type) ((type)mock())
#define mock_ptr_type(type) ((type)(uintptr_t)mock())

#define expect_value(function, parameter, value)                                                \
    _expect_check(#function, #parameter, __FILE__, __LINE__, 0,                                 \
                  cast_to_largest_integral_type(value), NULL, 0, 1)
#define expect_value_count(function, parameter, value, count)                                   \
    _expect_check(#function, #parameter, __FILE__, __LINE__, 0,                                 \
                  cast_to_largest_integral_type(value), NULL, 0, count)
#define expect_not_value(function, parameter, value)                                            \
    _expect_check(#function, #parameter, __FILE__, __LINE__, 1,                                 \
                  cast_to_largest_integral_type(value), NULL, 0, 1)
#define expect_any(function, parameter)                                                         \
    _expect_check(#function, #parameter, __FILE__, __LINE__, 2, 0, NULL, 0, 1)
#define expect_any_count(function, parameter, count)                                            \
    _expect_check(#function, #parameter, __FILE__, __LINE__, 2, 0, NULL, 0, count)
#define expect_memory(function, parameter, memory, size)                                        \
    _expect_check(#function, #parameter, __FILE__, __LINE__, 3, 0, (const void *)(memory),      \
                  (size_t)(size), 1)
#define expect_string(function, parameter, string)                                              \
    _expect_check(#function, #parameter, __FILE__, __LINE__, 4, 0, (const void *)(string), 0, 1)
#define check_expected(parameter)                                                               \
    _check_expected(__func__, #parameter, __FILE__, __LINE__,                                   \
                    cast_to_largest_integral_type(parameter))
#define check_expected_ptr(parameter)                                                           \
    _check_expected(__func__, #parameter, __FILE__, __LINE__,                                   \
                    cast_ptr_to_largest_integral_type(parameter))

#define expect_function_call(function) _expect_call(#function, __FILE__, __LINE__, 1)
#define expect_function_calls(function, times) _expect_call(#function, __FILE__, __LINE__, times)
#define function_called() _function_called(__func__, __FILE__, __LINE__)

void _will_return(const char *function, const char *file, int line, LargestIntegralType value,
                  int count);
LargestIntegralType _mock(const char *function, const char *file, int line);
void _expect_check(const char *function, const char *parameter, const char *file, int line,
                   int kind, LargestIntegralType value, const void *data, size_t size, int count);
void _check_expected(const char *function, const char *parameter, const char *file, int line,
                     LargestIntegralType value);
void _expect_call(const char *function, const char *file, int line, int count);
void _function_called(const char *function, const char *file, int line);

/* ---- Allocation (leak checks are not done here; the host run does them) ------------------ */

#define test_malloc(size) malloc(size)
#define test_calloc(num, size) calloc(num, size)
#define test_realloc(ptr, size) realloc(ptr, size)
#define test_free(ptr) free(ptr)

#endif /* WARD_ARM_CMOCKA_H */
