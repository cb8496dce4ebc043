/* gantry: one binary, roles as subcommands (server, agent, sim, and the CLI verbs). */
#include <stdio.h>
#include <string.h>

#include "agent/exec.h"
#include "cli/commands.h"
#include "cli/tlsgen.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command_t;

static const command_t commands[] = {
    {"server", cmd_server, "run the controller: API, store, scheduler"},
    {"sim", cmd_sim, "replay a job trace through the scheduler and report what happened"},
    {"bench", cmd_bench, "measure the scheduler core (gantry bench sched --help)"},
    {"submit", cmd_submit, "submit a job (YAML file or flags -- command)"},
    {"queue", cmd_queue, "list jobs: id, name, team, user, state, GPUs, start, elapsed, reason"},
    {"history", cmd_history, "list jobs that ended: state, exit, start, end, elapsed, GPU-hours"},
    {"show", cmd_show, "show a job, including why it waits"},
    {"cancel", cmd_cancel, "cancel jobs (by ids, an array's id, or --user/--team/--name/--state)"},
    {"hold", cmd_hold, "keep pending jobs out of the scheduler until released"},
    {"release", cmd_release, "let held jobs into the scheduler again"},
    {"requeue", cmd_requeue, "stop running jobs and return them to the queue (--hold: and hold)"},
    {"update", cmd_update, "change a pending job: GPUs, nodes, time, class, name, dependencies"},
    {"run", cmd_run, "run -it -- CMD: an interactive job, this terminal attached (srun --pty)"},
    {"exec", cmd_exec, "exec JOB [-it] -- CMD: run a command inside a running job"},
    {"port-forward", cmd_port_forward, "port-forward JOB LOCAL:REMOTE: reach a port in a job"},
    {"attach", cmd_attach, "attach JOB [--exec ID]: take back a session of gantry run -it or exec -it whose client left"},
    {"logs", cmd_logs, "print (or -f follow) a job's output"},
    {"events", cmd_events, "job events with their causes (-w: as they happen)"},
    {"metrics", cmd_metrics, "a job's logged metrics ($GANTRY_METRICS) as a series (-f follow)"},
    {"compare", cmd_compare, "runs (jobs, or an array's tasks) side by side: params vs metrics"},
    {"nodes", cmd_nodes, "list nodes"},
    {"drain", cmd_drain, "drain NODE --reason TEXT: no new jobs; running ones finish"},
    {"cordon", cmd_cordon, "cordon NODE: no new jobs"},
    {"uncordon", cmd_uncordon, "uncordon NODE: take jobs again (same as resume)"},
    {"resume", cmd_resume, "resume NODE: take jobs again after a drain or cordon"},
    {"maintenance", cmd_maintenance, "maintenance add | ls | rm: windows nodes take no work"},
    {"teams", cmd_teams, "list teams, quotas and what they hold"},
    {"quota", cmd_quota, "quota set TEAM: change quota, limit, weight"},
    {"usage", cmd_usage, "GPU-hours per team, user, class or job over a period"},
    {"services", cmd_services, "inference services: replicas ready, endpoint, GPUs, requests/s"},
    {"scale", cmd_scale, "set a service's replicas"},
    {"rollback", cmd_rollback, "roll a service back to its previous revision"},
    {"idle", cmd_idle, "running jobs whose GPUs stay idle (under the idle threshold)"},
    {"top", cmd_top, "a live view of nodes, GPUs, teams and the queue, refreshed in place"},
    {"token", cmd_token, "token create | list | revoke | rotate: API tokens"},
    {"user", cmd_user, "user set | list | show | delete: map users to teams and Unix accounts"},
    {"volumes", cmd_volumes, "list volumes (storage jobs mount); admins: volumes set | rm"},
    {"envs", cmd_envs, "list software stacks (environments); admins: envs set | rm"},
    {"artifact", cmd_artifact, "datasets and models: artifact push | pull | ls | show | tag | rm"},
    {"audit", cmd_audit, "the audit log of administrative changes (admins)"},
    {"node", cmd_node, "node reset NAME: revoke a node's credential (a new machine may join)"},
    {"agent", cmd_agent, "run the node agent: register GPUs, run jobs under supervisors"},
    {"up", cmd_up, "start a local cluster: a server and agents with declared GPUs"},
    {"tls-gen", cmd_tls_gen, "make a local CA and a server certificate for HTTPS"},
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: gantry <command> [options]   (gantry <command> --help for more)\n\n"
               "Gantry is an AI cluster orchestrator: queues, places, runs and measures GPU "
               "jobs.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "session-hold")) /* an interactive job's placeholder (agent/exec.h) */
        return exec_hold_main(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "gantry: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
