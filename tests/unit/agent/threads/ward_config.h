/*
 * The integrator's ward_config.h of test_threads (host only): the packet hook runs in another
 * thread than the report side, so the critical section is a mutex, as a POSIX or RTOS port with
 * the hook in a thread would define it (docs/agent.md, "Threading model").
 */
#ifndef WARD_TEST_THREADS_CONFIG_H
#define WARD_TEST_THREADS_CONFIG_H

#include <pthread.h>

extern pthread_mutex_t ward_test_lock;

#define WARD_DECL_CRITICAL() do { } while (0)
#define WARD_ENTER_CRITICAL() (void)pthread_mutex_lock(&ward_test_lock)
#define WARD_EXIT_CRITICAL() (void)pthread_mutex_unlock(&ward_test_lock)

#endif
