/* A test-only LD_PRELOAD library that makes the logrotate `create` race happen every time: after
 * a successful rename() of the file named by $RACE_PATH, it re-creates that file at once and
 * writes a line to it, as a naive application that re-opens its log does when it wins the race
 * against logrotate's create. Test helper of tests/no-excl-open. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rename(const char *from, const char *to)
{
    static int (*real)(const char *, const char *);
    if (!real) real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    int r = real(from, to);
    const char *watch = getenv("RACE_PATH");
    if (r == 0 && watch && strcmp(from, watch) == 0) {
        int fd = open(from, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            static const char line[] = "app: written after the rename\n";
            ssize_t n = write(fd, line, sizeof line - 1);
            (void)n;
            close(fd);
        }
    }
    return r;
}
