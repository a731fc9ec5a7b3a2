/* arena.c: allocations inside the buffer and spilled past it, alignment, zeroing, release. */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"

static void inside_then_spill(void **state)
{
    (void)state;
    alignas(max_align_t) uint8_t space[256];
    memset(space, 0xa5, sizeof space);
    ward_arena_t a;
    ward_arena_init(&a, space, sizeof space);
    uint8_t *p = ward_arena_calloc(&a, 3, 1);
    uint64_t *q = ward_arena_calloc(&a, 4, sizeof *q);
    assert_ptr_equal(p, space);
    assert_true((uint8_t *)q > p && (uint8_t *)(q + 4) <= space + sizeof space);
    assert_int_equal((uintptr_t)q % alignof(max_align_t), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(p[i], 0); /* zeroed, though the buffer was not */
    for (int i = 0; i < 4; i++)
        assert_int_equal(q[i], 0);
    /* Too big for what is left: a block of its own, zeroed, aligned, not in the buffer. */
    uint8_t *big = ward_arena_calloc(&a, 1000, 1);
    assert_non_null(big);
    assert_true(big < space || big >= space + sizeof space);
    assert_int_equal((uintptr_t)big % alignof(max_align_t), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(big[i], 0);
    memset(big, 1, 1000); /* ASan: the whole block is ours */
    /* Small ones still fit in the buffer after a spill. */
    uint8_t *small = ward_arena_calloc(&a, 8, 1);
    assert_true(small >= space && small + 8 <= space + sizeof space);
    assert_non_null(ward_arena_calloc(&a, 0, 8));
    ward_arena_release(&a); /* frees the spilled block (ASan/LSan would see a leak) */
    assert_null(a.spill);
    assert_int_equal(a.used, 0);
}

static void no_buffer_and_overflow(void **state)
{
    (void)state;
    ward_arena_t a;
    ward_arena_init(&a, NULL, 0);
    void *x = ward_arena_calloc(&a, 2, 16), *y = ward_arena_calloc(&a, 5, 3);
    assert_non_null(x);
    assert_non_null(y);
    assert_ptr_not_equal(x, y);
    assert_null(ward_arena_calloc(&a, SIZE_MAX / 2, 4)); /* count * size overflows */
    assert_null(ward_arena_calloc(&a, 1, SIZE_MAX - 4));
    ward_arena_release(&a);
    assert_null(a.spill);
}

/* ward_arena_alloc: the same placement, contents left as they were. */
static void alloc_not_zeroed(void **state)
{
    (void)state;
    alignas(max_align_t) uint8_t space[128];
    memset(space, 0xa5, sizeof space);
    ward_arena_t a;
    ward_arena_init(&a, space, sizeof space);
    uint8_t *p = ward_arena_alloc(&a, 16, 1);
    assert_ptr_equal(p, space);
    assert_int_equal(p[0], 0xa5);
    uint8_t *big = ward_arena_alloc(&a, 500, 1); /* spills */
    assert_non_null(big);
    assert_true(big < space || big >= space + sizeof space);
    memset(big, 1, 500);
    assert_null(ward_arena_alloc(&a, SIZE_MAX / 2, 4));
    ward_arena_release(&a);
    assert_null(a.spill);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inside_then_spill),
        cmocka_unit_test(no_buffer_and_overflow),
        cmocka_unit_test(alloc_not_zeroed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
