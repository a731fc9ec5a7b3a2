/*
 * intel_watch: a thread that watches feed files and folders with inotify and calls back, on that
 * thread, when one of them changed (the intel engine then reloads; intel.c).
 *
 * What is watched: a folder itself (a file created, written and closed, moved in or out, or
 * deleted in it; dotfiles and names ending in '~' are ignored, as the folder loader ignores them),
 * and for a file its parent folder, filtered by the file's name — so an editor that saves by
 * writing a temporary file and renaming it over the original (vim, sed -i, most tools that save
 * atomically) is seen as IN_MOVED_TO of that name, and a file deleted and created anew is seen
 * too. A watched folder that disappears is watched again once it is back (checked every second).
 *
 * Debounce: the callback runs `debounce_ms` after the last event of a burst (a save is often
 * several events), so one save is one reload.
 *
 * Threads: start/stop from one thread; the callback runs on the watcher thread.
 */
#ifndef WARD_INTEL_WATCH_H
#define WARD_INTEL_WATCH_H

#include <stddef.h>

typedef struct ward_watch ward_watch_t;

/** Called after a burst of changes; `why` names the first path that changed in it. */
typedef void (*ward_watch_fn)(void *ctx, const char *why);

/** Watch paths[0..n) (copied). NULL with the reason in err when inotify or the thread fails. */
ward_watch_t *ward_watch_start(const char *const *paths, size_t n, unsigned debounce_ms,
                               ward_watch_fn fn, void *ctx, char *err, size_t err_len);

/** Stop the thread (waits for a callback in progress) and free. NULL is fine. */
void ward_watch_stop(ward_watch_t *w);

#endif
