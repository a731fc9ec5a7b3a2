/*
 * Checks of the Cortex-M test pipeline itself (tests/arm/include/cmocka.h and the startup code),
 * run only on QEMU by scripts/arm-test, beside the agent's own tests from tests/unit/agent/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ward/status.h"

static uint32_t initialised = 0x12345678u; /* .data: copied from flash by Reset_Handler */
static uint32_t zeroed;                     /* .bss: zeroed by Reset_Handler */

static void test_startup_sections(void **state)
{
    (void)state;
    assert_int_equal(initialised, 0x12345678u);
    assert_int_equal(zeroed, 0);
}

static void test_status_str(void **state)
{
    (void)state;
    assert_string_equal(ward_status_str(WARD_OK), "ok");
    assert_string_equal(ward_status_str(WARD_E_BUFFER), "buffer too small");
    assert_string_not_equal(ward_status_str(WARD_E_BUFFER), ward_status_str(WARD_E_INCOMPLETE));
    assert_string_equal(ward_status_str((ward_status_t)9999), "unknown status");
    for (int s = WARD_OK; s <= WARD_E_RANGE; s++) {
        assert_non_null(ward_status_str((ward_status_t)s));
        assert_string_not_equal(ward_status_str((ward_status_t)s), "unknown status");
    }
}

static void test_assertions_that_pass(void **state)
{
    static const uint8_t a[4] = {1, 2, 3, 4};
    uint8_t b[4];
    const LargestIntegralType set[] = {2, 3, 5};
    uint64_t big = UINT64_C(0x1122334455667788);
    (void)state;
    memcpy(b, a, sizeof b);
    assert_true(1);
    assert_false(0);
    assert_null(NULL);
    assert_ptr_equal(a, a);
    assert_ptr_not_equal(a, b);
    assert_int_equal(big, UINT64_C(0x1122334455667788));
    assert_int_not_equal(-1, 1);
    assert_memory_equal(a, b, sizeof a);
    b[3] = 9;
    assert_memory_not_equal(a, b, sizeof a);
    assert_in_range(5, 1, 10);
    assert_not_in_range(11, 1, 10);
    assert_in_set(3, set, 3);
    assert_not_in_set(4, set, 3);
}

/* printf_c99.c: newlib alone would print "zu" and shift the later arguments. */
static void test_printf_c99_formats(void **state)
{
    char buf[64];
    (void)state;
    snprintf(buf, sizeof buf, "%zu %s %jd %td %5zu|%%zu", (size_t)48, "x", (intmax_t)-3,
             (ptrdiff_t)7, (size_t)1);
    assert_string_equal(buf, "48 x -3 7     1|%zu");
}

static int fake_publish(int x)
{
    check_expected(x);
    return mock_type(int);
}

static void test_mock_queue(void **state)
{
    (void)state;
    expect_value(fake_publish, x, 7);
    will_return(fake_publish, 42);
    assert_int_equal(fake_publish(7), 42);
}

static int setup_state(void **state)
{
    static int value = 5;
    *state = &value;
    return 0;
}

static void test_setup_state(void **state)
{
    assert_int_equal(*(int *)*state, 5);
}

/* Shows as one skipped test in every run: skip() must be reported as skipped, not passed. */
static void test_skip_is_reported(void **state)
{
    (void)state;
    skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_startup_sections),
        cmocka_unit_test(test_status_str),
        cmocka_unit_test(test_assertions_that_pass),
        cmocka_unit_test(test_printf_c99_formats),
        cmocka_unit_test(test_mock_queue),
        cmocka_unit_test_setup(test_setup_state, setup_state),
        cmocka_unit_test(test_skip_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
