#include <stdio.h>

#include "cli/commands.h"
#include "common/version.h"

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("gantry %s\n", GANTRY_VERSION);
    return 0;
}
