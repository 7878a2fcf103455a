/* Horizon ZFG: Zero File Generator. Writes FILES times a file of BYTES zero bytes at PATH
   (rewriting it each time), optionally fsync()ing each file. usage: zfg PATH BYTES FILES FSYNC */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: zfg PATH BYTES FILES FSYNC(0|1)\n"); return 2; }
    const char *path = argv[1];
    long long bytes = atoll(argv[2]);
    int files = atoi(argv[3]);
    int sync = atoi(argv[4]);
    static char block[1 << 20];
    memset(block, 0, sizeof block);
    for (int f = 0; f < files; f++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) { fprintf(stderr, "zfg: open %s: %s\n", path, strerror(errno)); return 4; }
        long long left = bytes;
        while (left > 0) {
            size_t chunk = left < (long long)sizeof block ? (size_t)left : sizeof block;
            ssize_t n = write(fd, block, chunk);
            if (n < 0) { fprintf(stderr, "zfg: write: %s\n", strerror(errno)); close(fd); return 4; }
            left -= n;
        }
        if (sync && fsync(fd) != 0) { fprintf(stderr, "zfg: fsync: %s\n", strerror(errno)); close(fd); return 4; }
        close(fd);
    }
    printf("zfg files=%d bytes=%lld fsync=%d\n", files, bytes, sync);
    return 0;
}
