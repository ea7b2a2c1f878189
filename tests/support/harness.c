/*
 * harness.c -- counting checks and printing failures.  See harness.h.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned passed, failed;
static const char *current_case = "";

void th_case(const char *name)
{
    current_case = name;
}

static void fail_header(const char *file, int line, const char *expr)
{
    failed++;
    fprintf(stderr, "%s:%d: FAILED%s%s%s: %s\n", file, line,
            current_case[0] ? " [" : "", current_case,
            current_case[0] ? "]" : "", expr);
}

void th_check(bool ok, const char *file, int line, const char *expr)
{
    if (ok) {
        passed++;
        return;
    }
    fail_header(file, line, expr);
}

void th_check_int(long long got, long long want, const char *file, int line,
                  const char *expr)
{
    if (got == want) {
        passed++;
        return;
    }
    fail_header(file, line, expr);
    fprintf(stderr, "    got:  %lld\n    want: %lld\n", got, want);
}

void th_check_str(const char *got, const char *want, const char *file,
                  int line, const char *expr)
{
    if (got && want && strcmp(got, want) == 0) {
        passed++;
        return;
    }
    fail_header(file, line, expr);
    fprintf(stderr, "    got:  %s\n    want: %s\n", got ? got : "(null)",
            want ? want : "(null)");
}

void th_check_mem(const char *got, size_t got_len, const char *want,
                  size_t want_len, const char *file, int line,
                  const char *expr)
{
    if (got_len == want_len && (got_len == 0 || memcmp(got, want, got_len) == 0)) {
        passed++;
        return;
    }
    fail_header(file, line, expr);
    fprintf(stderr, "    got:  [%.*s]\n    want: [%.*s]\n", (int)got_len,
            got ? got : "", (int)want_len, want ? want : "");
}

int th_finish(void)
{
    printf("%u passed, %u failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}

bool th_quick(void)
{
    const char *quick = getenv("MIGC_TEST_QUICK");
    return quick && strcmp(quick, "1") == 0;
}
