/*
 * Vector table and reset handler for a bare Cortex-M image: copies .data from flash to RAM,
 * zeroes .bss and calls main(). No OS, no interrupts enabled, no FPU (soft-float ABI).
 *
 * Two uses, one file:
 *  - the size images (scripts/size): main() never returns; nothing but this file and main is
 *    linked besides the agent core, so the baseline image contains no libc code at all;
 *  - the unit-test images (scripts/arm-test, built with WARD_ARM_SEMIHOSTING): stdio goes to the
 *    host through Arm semihosting (newlib's librdimon), and main's return value becomes QEMU's
 *    exit status through exit(). A fault prints its name and exits with status 125.
 *
 * Compiled with -fno-tree-loop-distribute-patterns so that the copy loops stay loops rather than
 * memcpy()/memset() calls: the baseline image must not pull in libc for the agent to hide behind.
 */
#include <stdint.h>

#ifdef WARD_ARM_SEMIHOSTING
#include <stdio.h>
#include <stdlib.h>
extern void initialise_monitor_handles(void);
/* With -nostartfiles there is no crti.o: newlib's exit() still runs __libc_fini_array(). */
void _init(void);
void _fini(void);
void _init(void)
{
}
void _fini(void)
{
}
#endif

extern uint32_t __data_load__[], __data_start__[], __data_end__[];
extern uint32_t __bss_start__[], __bss_end__[];
extern uint32_t __stack_top__[];

int main(void);
void Reset_Handler(void);
void ward_arm_fault(void);

void Reset_Handler(void)
{
    const uint32_t *src = __data_load__;
    uint32_t *dst;
    for (dst = __data_start__; dst < __data_end__; dst++) {
        *dst = *src++;
    }
    for (dst = __bss_start__; dst < __bss_end__; dst++) {
        *dst = 0;
    }
#ifdef WARD_ARM_SEMIHOSTING
    initialise_monitor_handles();
    exit(main());
#else
    (void)main();
    for (;;) {
    }
#endif
}

/* Every exception other than reset: a fault in a test image is a failed run, not a hang. */
void ward_arm_fault(void)
{
#ifdef WARD_ARM_SEMIHOSTING
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    fprintf(stderr, "\n[  FAULT   ] exception %lu (3 = HardFault, 4 = MemManage, 5 = BusFault, "
                    "6 = UsageFault)\n", (unsigned long)(ipsr & 0x1ffu));
    exit(125);
#else
    for (;;) {
    }
#endif
}

typedef void (*ward_vector_t)(void);

/* The 16 Cortex-M system vectors; no device interrupts are used. */
__attribute__((section(".isr_vector"), used)) const ward_vector_t ward_vectors[16] = {
    (ward_vector_t)(uintptr_t)__stack_top__, /* initial stack pointer */
    Reset_Handler,
    ward_arm_fault, /* NMI */
    ward_arm_fault, /* HardFault */
    ward_arm_fault, /* MemManage */
    ward_arm_fault, /* BusFault */
    ward_arm_fault, /* UsageFault */
    0, 0, 0, 0,     /* reserved */
    ward_arm_fault, /* SVCall */
    ward_arm_fault, /* DebugMonitor */
    0,              /* reserved */
    ward_arm_fault, /* PendSV */
    ward_arm_fault, /* SysTick */
};
