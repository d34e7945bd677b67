/* opener CALL PATH FLAGS...: open PATH through one libc entry point and print "ok" or the errno
 * name. CALL: open open64 openat openat64 __open_2 __open64_2; FLAGS: RDONLY WRONLY RDWR CREAT EXCL
 * TRUNC APPEND. Also "env" (no PATH): print LD_PRELOAD or "unset", to see what a child inherits.
 * Test program of tests/no-excl-open (built with the system C compiler by the tests). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern int __open_2(const char *, int);
extern int __open64_2(const char *, int);

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "env") == 0) {
        const char *v = getenv("LD_PRELOAD");
        printf("%s\n", v ? v : "unset");
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: opener CALL PATH FLAG...\n");
        return 2;
    }
    int flags = 0;
    for (int i = 3; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "RDONLY")) flags |= O_RDONLY;
        else if (!strcmp(f, "WRONLY")) flags |= O_WRONLY;
        else if (!strcmp(f, "RDWR")) flags |= O_RDWR;
        else if (!strcmp(f, "CREAT")) flags |= O_CREAT;
        else if (!strcmp(f, "EXCL")) flags |= O_EXCL;
        else if (!strcmp(f, "TRUNC")) flags |= O_TRUNC;
        else if (!strcmp(f, "APPEND")) flags |= O_APPEND;
        else { fprintf(stderr, "bad flag %s\n", f); return 2; }
    }
    const char *call = argv[1], *path = argv[2];
    int fd;
    errno = 0;
    if (!strcmp(call, "open")) fd = open(path, flags, 0644);
    else if (!strcmp(call, "open64")) fd = open64(path, flags, 0644);
    else if (!strcmp(call, "openat")) fd = openat(AT_FDCWD, path, flags, 0644);
    else if (!strcmp(call, "openat64")) fd = openat64(AT_FDCWD, path, flags, 0644);
    else if (!strcmp(call, "__open_2")) fd = __open_2(path, flags);   /* glibc: no O_CREAT here */
    else if (!strcmp(call, "__open64_2")) fd = __open64_2(path, flags);
    else { fprintf(stderr, "bad call %s\n", call); return 2; }
    if (fd < 0) {
        printf("%s\n", errno == EEXIST ? "EEXIST" : errno == ENOENT ? "ENOENT" : strerror(errno));
        return 1;
    }
    /* the file was opened, not replaced: report its size (TRUNC shows as 0) */
    off_t size = lseek(fd, 0, SEEK_END);
    printf("ok size=%lld\n", (long long)size);
    close(fd);
    return 0;
}
