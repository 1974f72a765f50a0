/* The floor of a listing of jobs on this machine: only the reads a listing cannot
 * skip (each job's job.json and state.json, and with a second argument the
 * /proc/PID/stat that tells a live supervisor from a dead one), one open, one read
 * and one close each, single-threaded, no parsing. Issue 19's note compares
 * `mrsm show jobs` with it.
 *
 *   cc -O2 -o /tmp/listing_floor bench/listing_floor.c
 *   /tmp/listing_floor "$MRSM_ROOT_DIR/jobs"        # the two files per job
 *   /tmp/listing_floor "$MRSM_ROOT_DIR/jobs" proc   # and the supervisor's stat
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

static long read_once(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return 0;
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return n > 0 ? n : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s JOBS_DIR [proc]\n", argv[0]);
        return 2;
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    DIR *dir = opendir(argv[1]);
    if (!dir) {
        perror(argv[1]);
        return 1;
    }
    char path[4096];
    long bytes = 0;
    int jobs = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/job.json", argv[1], entry->d_name);
        bytes += read_once(path);
        snprintf(path, sizeof path, "%s/%s/state.json", argv[1], entry->d_name);
        bytes += read_once(path);
        if (argc > 2) {
            char *pid = strstr(buf, "\"pid\": ");
            snprintf(path, sizeof path, "/proc/%d/stat", pid ? atoi(pid + 7) : 1);
            bytes += read_once(path);
        }
        jobs++;
    }
    closedir(dir);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double ms = (end.tv_sec - start.tv_sec) * 1e3 + (end.tv_nsec - start.tv_nsec) / 1e6;
    printf("%d jobs, %ld bytes read, %.2f ms\n", jobs, bytes, ms);
    return 0;
}
