/*
 * Must fail: scripts/arm-test runs it and expects a non-zero exit status and the failures below,
 * so a broken runner, startup or semihosting exit path cannot report success for real failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_int_equal_fails(void **state)
{
    (void)state;
    assert_int_equal(1, 2);
}

static void test_passes(void **state)
{
    (void)state;
    assert_true(1);
}

static void test_string_equal_fails(void **state)
{
    (void)state;
    assert_string_equal("a", "b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_equal_fails),
        cmocka_unit_test(test_passes),
        cmocka_unit_test(test_string_equal_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
