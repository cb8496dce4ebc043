#include <stdio.h>

#include "cli/commands.h"

#define GANTRY_VERSION "0.1.0"

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("gantry %s\n", GANTRY_VERSION);
    return 0;
}
