/* bench/stamp.c: the job of bench/dispatch. Its first instruction reads the clock; it writes
 * that time (Unix seconds, ns) to the file named by argv[1]. Built static, so that exec costs
 * as little as it can and the stamp is as close as possible to "the job's process runs". */
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    if (argc < 2)
        return 2;
    FILE *f = fopen(argv[1], "w");
    if (!f)
        return 1;
    fprintf(f, "%lld.%09ld\n", (long long)t.tv_sec, t.tv_nsec);
    return fclose(f) == 0 ? 0 : 1;
}
