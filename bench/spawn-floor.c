/* bench/spawn-floor.c: the machine's ceiling for short jobs with no orchestrator at all: WORKERS
 * processes (default: one per core) each start `true` with posix_spawn and wait for it, JOBS in
 * all. Any scheduler's jobs/s for `true` on this machine is below this figure. With
 * "supervised", each job is a forked child that spawns `true` and waits for it, the process
 * shape of a per-job supervisor (Gantry's, Slurm's slurmstepd) and nothing else. Not a test.
 *   spawn-floor JOBS [WORKERS [supervised]]   prints one JSON line */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int run_true(void)
{
    char *av[] = {"true", NULL};
    pid_t p;
    int st;
    if (posix_spawnp(&p, "true", NULL, NULL, av, environ) != 0 || waitpid(p, &st, 0) < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    int jobs = argc > 1 ? atoi(argv[1]) : 3000;
    int workers = argc > 2 && atoi(argv[2]) > 0 ? atoi(argv[2])
                                                : (int)sysconf(_SC_NPROCESSORS_ONLN);
    int supervised = argc > 3 && !strcmp(argv[3], "supervised");
    if (jobs < 1 || workers < 1) {
        fprintf(stderr, "usage: spawn-floor JOBS [WORKERS]\n");
        return 2;
    }
    double t0 = now();
    for (int w = 0; w < workers; w++) {
        if (fork() == 0) {
            for (int i = w; i < jobs; i += workers) {
                if (!supervised) {
                    if (run_true() < 0)
                        _exit(1);
                    continue;
                }
                pid_t sup = fork();
                if (sup == 0)
                    _exit(run_true() < 0 ? 1 : 0);
                int st;
                if (sup < 0 || waitpid(sup, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
                    _exit(1);
            }
            _exit(0);
        }
    }
    int failed = 0, st;
    while (wait(&st) > 0)
        failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    double s = now() - t0;
    printf("{\"system\": \"%s, no orchestrator (ceiling)\", \"jobs\": %d, "
           "\"workers\": %d, \"failed_workers\": %d, \"seconds\": %.3f, \"jobs_per_s\": %.1f}\n",
           supervised ? "fork + posix_spawn of true (a supervisor per job)" : "posix_spawn of true",
           jobs, workers, failed, s, jobs / s);
    return failed ? 1 : 0;
}
