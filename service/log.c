/*
 * log: formats each line into one buffer and writes it with a single fputs on unbuffered stderr,
 * so concurrent lines stay whole. See log.h.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static const char *g_prog = "ward";
static ward_log_level_t g_min = WARD_LOG_INFO;

void ward_log_init(const char *prog, ward_log_level_t min_level)
{
    if (prog != NULL)
        g_prog = prog;
    g_min = min_level;
}

void ward_log(ward_log_level_t level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    if (level < g_min)
        return;
    char line[1024];
    int n = snprintf(line, sizeof line, "%s: %s: ", g_prog, names[level]);
    if (n < 0)
        return;
    size_t off = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + off, sizeof line - off, fmt, ap);
    va_end(ap);
    /* Room for the newline: truncate a very long message rather than split it. */
    size_t len = 0;
    while (len < sizeof line - 2 && line[len] != '\0')
        len++;
    line[len] = '\n';
    line[len + 1] = '\0';
    fputs(line, stderr);
}
