/*
 * harness.h -- the smallest test harness that does the job.
 *
 * Test programs call CHECK-style macros; each failed check prints
 * file:line and what differed, and the program goes on.  th_finish()
 * prints the closing line "N passed, N failed" that CI reads and returns
 * the exit status (0 only when nothing failed and something ran).
 *
 * th_quick() is true when MIGC_TEST_QUICK=1 is in the environment
 * (tests/valgrind.sh sets it): tests that repeat the same work many times
 * (rounds, trials, processes) then run a reduced number of repetitions,
 * each still checked in full.  Each such test's header says what it
 * reduces.
 */
#ifndef MIGC_TEST_HARNESS_H
#define MIGC_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

void th_check(bool ok, const char *file, int line, const char *expr);
void th_check_int(long long got, long long want, const char *file, int line,
                  const char *expr);
void th_check_str(const char *got, const char *want, const char *file,
                  int line, const char *expr);
void th_check_mem(const char *got, size_t got_len, const char *want,
                  size_t want_len, const char *file, int line,
                  const char *expr);
/* Names the case the following checks belong to (printed on failure). */
void th_case(const char *name);
int th_finish(void);
/* MIGC_TEST_QUICK=1: a reduced number of repetitions (see above). */
bool th_quick(void);

#define CHECK(e) th_check((e), __FILE__, __LINE__, #e)
#define CHECK_INT(got, want) \
    th_check_int((long long)(got), (long long)(want), __FILE__, __LINE__, #got)
#define CHECK_STR(got, want) \
    th_check_str((got), (want), __FILE__, __LINE__, #got)
#define CHECK_MEM(got, glen, want, wlen) \
    th_check_mem((got), (glen), (want), (wlen), __FILE__, __LINE__, #got)

#endif /* MIGC_TEST_HARNESS_H */
