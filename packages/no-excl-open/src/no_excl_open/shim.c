/* no-excl-open: an LD_PRELOAD shim for the logrotate `create` race.
 *
 * logrotate renames the log, then creates the new one with open(O_CREAT|O_EXCL|O_RDWR); when the
 * application re-creates the file in that gap, the open fails with EEXIST, logrotate reports
 * "error creating output file ...: File exists" and postrotate never runs. This shim wraps open,
 * open64, openat, openat64, __open_2 and __open64_2: when the flags hold O_CREAT and O_RDWR but
 * not O_TRUNC, O_EXCL is removed, so the existing file is opened instead (logrotate then sets its
 * owner and mode as usual). Every other open is passed through untouched (O_WRONLY, O_RDONLY,
 * O_TRUNC, O_EXCL without O_CREAT).
 *
 * A constructor removes LD_PRELOAD from the environment, so the programs the wrapped one starts
 * (postrotate scripts, compressors) do not inherit the shim.
 *
 * Built by the package's hatchling build hook (hatch_build.py) with the system C compiler.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/types.h>

#ifndef O_TMPFILE
#define O_TMPFILE 0
#endif

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);

static open_fn real_open, real_open64;
static openat_fn real_openat, real_openat64;
static open2_fn real_open_2, real_open64_2;

/* the rule: O_CREAT and O_RDWR without O_TRUNC -> O_EXCL is dropped */
static int no_excl(int flags)
{
    if ((flags & O_CREAT) && (flags & O_ACCMODE) == O_RDWR && !(flags & O_TRUNC))
        flags &= ~O_EXCL;
    return flags;
}

static int needs_mode(int flags)
{
    return (flags & O_CREAT) || (O_TMPFILE && (flags & O_TMPFILE) == O_TMPFILE);
}

static void *next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

static void resolve(void)
{
    if (!real_open) real_open = (open_fn)next("open");
    if (!real_open64) real_open64 = (open_fn)next("open64");
    if (!real_openat) real_openat = (openat_fn)next("openat");
    if (!real_openat64) real_openat64 = (openat_fn)next("openat64");
    if (!real_open_2) real_open_2 = (open2_fn)next("__open_2");
    if (!real_open64_2) real_open64_2 = (open2_fn)next("__open64_2");
}

__attribute__((constructor)) static void no_excl_open_init(void)
{
    resolve();
    unsetenv("LD_PRELOAD");
}

#define MODE_ARG(flags, mode)              \
    do {                                   \
        if (needs_mode(flags)) {           \
            va_list ap;                    \
            va_start(ap, flags);           \
            mode = (mode_t)va_arg(ap, int); \
            va_end(ap);                    \
        }                                  \
    } while (0)

#define MISSING() do { errno = ENOSYS; return -1; } while (0)

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    if (!real_open) resolve();
    if (!real_open) MISSING();
    return real_open(path, no_excl(flags), mode);
}

int open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    if (!real_open64) resolve();
    if (!real_open64) MISSING();
    return real_open64(path, no_excl(flags), mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    if (!real_openat) resolve();
    if (!real_openat) MISSING();
    return real_openat(dirfd, path, no_excl(flags), mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    if (!real_openat64) resolve();
    if (!real_openat64) MISSING();
    return real_openat64(dirfd, path, no_excl(flags), mode);
}

/* the fortified entry points (-D_FORTIFY_SOURCE) take no mode: glibc refuses O_CREAT there */
int __open_2(const char *path, int flags)
{
    if (!real_open_2) resolve();
    if (!real_open_2) MISSING();
    return real_open_2(path, no_excl(flags));
}

int __open64_2(const char *path, int flags)
{
    if (!real_open64_2) resolve();
    if (!real_open64_2) MISSING();
    return real_open64_2(path, no_excl(flags));
}
