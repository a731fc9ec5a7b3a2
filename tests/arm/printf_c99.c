/*
 * C99 length modifiers for newlib's printf family in the Cortex-M test images.
 *
 * Debian's newlib is built without _WANT_IO_C99_FORMATS: its printf prints "%zu" as "zu" and does
 * not consume the argument, which shifts every later one (wrong figures, and a later %s reads a
 * number as a pointer). The test files use %zu like any C99 code, so the images are linked with
 * -Wl,--wrap=printf,... (tests/arm/images.cmake) and these wrappers rewrite the format first:
 * z and t become l (size_t, ptrdiff_t and long are all 32 bits on this target), j becomes ll.
 */
#include <stdarg.h>
#include <stdio.h>

int __real_vfprintf(FILE *stream, const char *format, va_list ap);
int __real_vsnprintf(char *str, size_t size, const char *format, va_list ap);
int __wrap_printf(const char *format, ...);
int __wrap_fprintf(FILE *stream, const char *format, ...);
int __wrap_vprintf(const char *format, va_list ap);
int __wrap_vfprintf(FILE *stream, const char *format, va_list ap);
int __wrap_snprintf(char *str, size_t size, const char *format, ...);
int __wrap_vsnprintf(char *str, size_t size, const char *format, va_list ap);

enum { FORMAT_MAX = 512 };

/* Rewrites format into buf; returns format itself when there is nothing to rewrite or no room. */
static const char *c99_format(const char *format, char *buf)
{
    const char *s = format;
    size_t n = 0;
    int changed = 0;
    while (*s != '\0') {
        if (n + 3 >= FORMAT_MAX) {
            return format;
        }
        buf[n++] = *s;
        if (*s++ != '%') {
            continue;
        }
        /* flags, width, precision */
        while (*s != '\0' && n + 3 < FORMAT_MAX &&
               ((*s >= '0' && *s <= '9') || *s == '-' || *s == '+' || *s == ' ' || *s == '#' ||
                *s == '.' || *s == '*')) {
            buf[n++] = *s++;
        }
        if (*s == 'z' || *s == 't') {
            buf[n++] = 'l';
            s++;
            changed = 1;
        } else if (*s == 'j') {
            buf[n++] = 'l';
            buf[n++] = 'l';
            s++;
            changed = 1;
        } else if (*s == '%') {
            buf[n++] = *s++;
        }
    }
    buf[n] = '\0';
    return changed ? buf : format;
}

int __wrap_vfprintf(FILE *stream, const char *format, va_list ap)
{
    char buf[FORMAT_MAX];
    return __real_vfprintf(stream, c99_format(format, buf), ap);
}

int __wrap_vprintf(const char *format, va_list ap)
{
    return __wrap_vfprintf(stdout, format, ap);
}

int __wrap_printf(const char *format, ...)
{
    va_list ap;
    int r;
    va_start(ap, format);
    r = __wrap_vfprintf(stdout, format, ap);
    va_end(ap);
    return r;
}

int __wrap_fprintf(FILE *stream, const char *format, ...)
{
    va_list ap;
    int r;
    va_start(ap, format);
    r = __wrap_vfprintf(stream, format, ap);
    va_end(ap);
    return r;
}

int __wrap_vsnprintf(char *str, size_t size, const char *format, va_list ap)
{
    char buf[FORMAT_MAX];
    return __real_vsnprintf(str, size, c99_format(format, buf), ap);
}

int __wrap_snprintf(char *str, size_t size, const char *format, ...)
{
    va_list ap;
    int r;
    va_start(ap, format);
    r = __wrap_vsnprintf(str, size, format, ap);
    va_end(ap);
    return r;
}
