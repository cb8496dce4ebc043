/* partitions.c: a job's partition (sbatch -p), resolved at submission through the
 * configuration's partitions: (config.h) into the GPU types and priority class it stands for.
 * The job's own gpu_type and priority_class win; the partition's name stays on the job. */
#include <string.h>

#include "server/server.h"

void server_partitions_from_config(server_t *srv, const gt_config_t *cfg)
{
    srv->partitions = cfg && cfg->partitions ? json_deep_copy(cfg->partitions) : json_object();
    const char *name;
    json_t *part, *t;
    size_t i;
    json_object_foreach(srv->partitions, name, part)
        json_array_foreach(json_object_get(part, "gpu_type"), i, t)
            sched_gpu_type(srv->sched, json_string_value(t));
}

int server_job_resolve_partition(server_t *srv, job_t *j, gt_error_t *err)
{
    if (!j->partition)
        return 0;
    json_t *part = json_object_get(srv->partitions, j->partition);
    if (!part) {
        gt_buf_t known = {0};
        const char *name;
        json_t *p;
        json_object_foreach(srv->partitions, name, p)
            gt_buf_printf(&known, "%s%s", known.len ? ", " : "", name);
        gt_error_invalid(err, "partition '%s' does not exist; known: %s", j->partition,
                         known.len ? known.data : "none (the configuration has no partitions:)");
        gt_buf_free(&known);
        return -1;
    }
    json_t *types = json_object_get(part, "gpu_type");
    if (json_array_size(j->gpu_types) == 0 && json_array_size(types) > 0) {
        json_decref(j->gpu_types);
        j->gpu_types = json_deep_copy(types);
    }
    const char *cls = json_string_value(json_object_get(part, "priority_class"));
    if (!j->prio_class && cls)
        j->prio_class = xstrdup(cls);
    return 0;
}
