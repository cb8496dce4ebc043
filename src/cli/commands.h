/* commands.h: entry points of gantry's subcommands. Each takes argv with argv[0] = the
 * command's name and returns the process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef GANTRY_COMMANDS_H
#define GANTRY_COMMANDS_H

int cmd_sim(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_server(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_hold(int argc, char **argv);
int cmd_release(int argc, char **argv);
int cmd_requeue(int argc, char **argv);
int cmd_update(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_nodes(int argc, char **argv);
int cmd_teams(int argc, char **argv);
int cmd_quota(int argc, char **argv);
int cmd_usage(int argc, char **argv);
int cmd_idle(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_node(int argc, char **argv);
int cmd_volumes(int argc, char **argv);
int cmd_envs(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_drain(int argc, char **argv);
int cmd_cordon(int argc, char **argv);
int cmd_uncordon(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_maintenance(int argc, char **argv);
/* cli_services.c */
int cmd_services(int argc, char **argv);
int cmd_scale(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_service_update(int argc, char **argv);  /* gantry update NAME (not a job id) */
/* cli_track.c: experiment tracking (docs/tracking.md) */
int cmd_metrics(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_artifact(int argc, char **argv);

int cmd_run(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_port_forward(int argc, char **argv);
int cmd_attach(int argc, char **argv);

#endif
