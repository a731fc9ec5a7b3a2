/*
 * intel_watch: inotify watcher thread. See intel_watch.h.
 *
 * Owns: the inotify descriptor, an eventfd that stop() writes to wake the thread, and one entry
 * per watched path (the folder watched, and the file name to filter on for a file). Several
 * entries may share one inotify watch (two files in one folder): an event is checked against
 * every entry with its watch descriptor.
 */
#include "intel_watch.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define WATCH_MASK                                                                                 \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF |       \
     IN_MOVE_SELF)
#define REWATCH_MS 1000

typedef struct entry {
    char *path; /* as given */
    char *dir;  /* the folder watched */
    char *base; /* the file name to filter on; NULL for a folder */
    int wd;     /* -1 while the folder is missing */
} entry_t;

struct ward_watch {
    int ifd, efd;
    entry_t *e;
    size_t n;
    unsigned debounce_ms;
    ward_watch_fn fn;
    void *ctx;
    pthread_t thread;
};

static bool ignored_name(const char *name)
{
    size_t n = strlen(name);
    return n == 0 || name[0] == '.' || name[n - 1] == '~';
}

static void add_watch(ward_watch_t *w, entry_t *e)
{
    e->wd = inotify_add_watch(w->ifd, e->dir, WATCH_MASK);
}

static int split(entry_t *e, const char *path)
{
    struct stat sb;
    e->path = strdup(path);
    e->wd = -1;
    if (e->path == NULL)
        return -1;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        e->dir = strdup(path);
        return e->dir ? 0 : -1;
    }
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        e->dir = strdup(".");
        e->base = strdup(path);
    } else {
        e->dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
        e->base = strdup(slash + 1);
    }
    return e->dir && e->base ? 0 : -1;
}

/* The first entry an event concerns, or NULL. */
static entry_t *match(ward_watch_t *w, const struct inotify_event *ev)
{
    for (size_t i = 0; i < w->n; i++) {
        entry_t *e = &w->e[i];
        if (e->wd != ev->wd)
            continue;
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
            return e;
        if (ev->len == 0)
            continue;
        if (e->base != NULL ? strcmp(e->base, ev->name) == 0 : !ignored_name(ev->name))
            return e;
    }
    return NULL;
}

static void *run(void *arg)
{
    ward_watch_t *w = arg;
    char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
        __attribute__((aligned(__alignof__(struct inotify_event))));
    int64_t due = -1, rewatch = ward_mono_ms() + REWATCH_MS;
    char why[512] = "";
    for (;;) {
        int64_t now = ward_mono_ms();
        int64_t until = rewatch;
        if (due >= 0 && due < until)
            until = due;
        int timeout = until > now ? (int)(until - now) : 0;
        struct pollfd p[2] = {{w->ifd, POLLIN, 0}, {w->efd, POLLIN, 0}};
        int r = poll(p, 2, timeout);
        if (r < 0 && errno != EINTR) {
            WARD_ERROR("intel: watching feeds: poll: %s", strerror(errno));
            break;
        }
        if (r > 0 && (p[1].revents & POLLIN))
            break;
        if (r > 0 && (p[0].revents & POLLIN)) {
            ssize_t got;
            while ((got = read(w->ifd, buf, sizeof buf)) > 0) {
                for (char *q = buf; q < buf + got;) {
                    const struct inotify_event *ev = (const struct inotify_event *)q;
                    q += sizeof *ev + ev->len;
                    if (ev->mask & IN_Q_OVERFLOW) {
                        due = ward_mono_ms() + w->debounce_ms;
                        snprintf(why, sizeof why, "inotify queue overflow");
                        continue;
                    }
                    entry_t *e = match(w, ev);
                    if (e == NULL)
                        continue;
                    if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
                        /* The folder itself went: its watch is gone; every entry that used
                         * it waits for the folder to come back. */
                        int wd = e->wd;
                        for (size_t i = 0; i < w->n; i++)
                            if (w->e[i].wd == wd)
                                w->e[i].wd = -1;
                        inotify_rm_watch(w->ifd, wd);
                    }
                    if (due < 0)
                        snprintf(why, sizeof why, "%s changed", e->path);
                    due = ward_mono_ms() + w->debounce_ms;
                }
            }
        }
        now = ward_mono_ms();
        if (now >= rewatch) {
            for (size_t i = 0; i < w->n; i++) {
                if (w->e[i].wd >= 0)
                    continue;
                add_watch(w, &w->e[i]);
                if (w->e[i].wd >= 0) {
                    /* Same folder for other entries: they share the new descriptor. */
                    for (size_t j = 0; j < w->n; j++)
                        if (w->e[j].wd < 0 && strcmp(w->e[j].dir, w->e[i].dir) == 0)
                            w->e[j].wd = w->e[i].wd;
                    snprintf(why, sizeof why, "%s is back", w->e[i].dir);
                    due = now + w->debounce_ms;
                }
            }
            rewatch = now + REWATCH_MS;
        }
        if (due >= 0 && now >= due) {
            due = -1;
            w->fn(w->ctx, why);
        }
    }
    return NULL;
}

static void free_watch(ward_watch_t *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->e[i].path);
        free(w->e[i].dir);
        free(w->e[i].base);
    }
    free(w->e);
    if (w->ifd >= 0)
        close(w->ifd);
    if (w->efd >= 0)
        close(w->efd);
    free(w);
}

ward_watch_t *ward_watch_start(const char *const *paths, size_t n, unsigned debounce_ms,
                               ward_watch_fn fn, void *ctx, char *err, size_t err_len)
{
    ward_watch_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    w->e = calloc(n ? n : 1, sizeof *w->e);
    w->debounce_ms = debounce_ms;
    w->fn = fn;
    w->ctx = ctx;
    if (w->ifd < 0 || w->efd < 0 || w->e == NULL) {
        snprintf(err, err_len, "cannot watch the feeds: %s", strerror(errno));
        free_watch(w);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        w->n++;
        if (split(&w->e[i], paths[i]) != 0) {
            snprintf(err, err_len, "out of memory");
            free_watch(w);
            return NULL;
        }
        add_watch(w, &w->e[i]);
        if (w->e[i].wd < 0)
            WARD_WARN("intel: cannot watch %s (%s); retrying every second", w->e[i].dir,
                      strerror(errno));
    }
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        snprintf(err, err_len, "cannot start the feed watcher thread");
        free_watch(w);
        return NULL;
    }
    return w;
}

void ward_watch_stop(ward_watch_t *w)
{
    if (w == NULL)
        return;
    uint64_t one = 1;
    if (write(w->efd, &one, sizeof one) != (ssize_t)sizeof one)
        WARD_ERROR("intel: cannot stop the feed watcher: %s", strerror(errno));
    pthread_join(w->thread, NULL);
    free_watch(w);
}
