/* commands.h: entry points of gantry's subcommands. Each takes argv with argv[0] = the
 * command's name and returns the process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef GANTRY_COMMANDS_H
#define GANTRY_COMMANDS_H

int cmd_sim(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_server(int argc, char **argv);

#endif
