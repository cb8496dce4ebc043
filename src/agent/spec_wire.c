/* spec_wire.c: supervisor specs to and from JSON (see spec_wire.h). */
#include "agent/spec_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

json_t *spec_wire_encode(const supervisor_spec_t *s)
{
    json_t *argv = json_array(), *env = json_array(), *gpus = json_array();
    for (char *const *a = s->argv; a && *a; a++)
        json_array_append_new(argv, json_string(*a));
    for (char *const *e = s->env; e && *e; e++)
        json_array_append_new(env, json_string(*e));
    for (size_t i = 0; i < s->ngpus; i++)
        json_array_append_new(gpus, json_integer(s->gpus[i]));
    json_t *o = json_pack(
        "{s:I,s:i,s:o,s:o,s:o,s:b,s:o,s:o,s:o,s:o,s:I,s:i,s:I,s:o,s:o,s:o}", "job_id",
        (json_int_t)s->job_id, "incarnation", s->incarnation, "name", str_or_null(s->name),
        "team", str_or_null(s->team), "user", str_or_null(s->user), "allow_root",
        s->allow_root, "argv", argv, "env", env, "workdir", str_or_null(s->workdir), "gpus",
        gpus, "time_limit_s", (json_int_t)s->time_limit_s, "stop_signal", s->stop_signal,
        "grace_s", (json_int_t)s->grace_s, "dev_dir", str_or_null(s->dev_dir), "state_dir",
        str_or_null(s->state_dir), "checkpoint_root", str_or_null(s->checkpoint_root));
    json_object_set_new(o, "allow_system_account", json_boolean(s->allow_system_account));
    if (s->gang)
        json_object_set_new(o, "gang",
                            json_pack("{s:i,s:i,s:i,s:i,s:s,s:i,s:i}", "nodes",
                                      s->gang->nodes, "node_rank", s->gang->node_rank,
                                      "master_port", s->gang->master_port, "gpus_per_node",
                                      s->gang->gpus_per_node, "master_addr",
                                      s->gang->master_addr, "world_size",
                                      s->gang->world_size, "rank_offset",
                                      s->gang->rank_offset));
    if (s->cgroup)
        json_object_set_new(o, "cgroup",
                            json_pack("{s:o,s:i,s:o}", "root", str_or_null(s->cgroup->root),
                                      "version", (int)s->cgroup->version, "parent",
                                      str_or_null(s->cgroup->parent)));
    json_object_set_new(o, "fence", json_boolean(s->fence));
    json_object_set_new(o, "agent", json_integer((json_int_t)s->agent));
    json_object_set_new(o, "limits",
                        json_pack("{s:I,s:I,s:I,s:b}", "memory_bytes",
                                  (json_int_t)s->limits.memory_bytes, "cpu_milli",
                                  (json_int_t)s->limits.cpu_milli, "pids_max",
                                  (json_int_t)s->limits.pids_max, "restrict_devices",
                                  s->limits.restrict_devices));
    json_t *mounts = json_array();
    for (size_t i = 0; i < s->nmounts; i++)
        json_array_append_new(mounts,
                              json_pack("{s:o,s:o,s:o,s:b}", "host_path",
                                        str_or_null(s->mounts[i].host_path), "sub_path",
                                        str_or_null(s->mounts[i].sub_path), "path",
                                        str_or_null(s->mounts[i].path), "read_only",
                                        s->mounts[i].read_only));
    json_object_set_new(o, "mounts", mounts);
    json_object_set_new(o, "image", str_or_null(s->image));
    json_object_set_new(o, "output_dir", str_or_null(s->output_dir));
    json_object_set_new(o, "scratch_root", str_or_null(s->scratch_root));
    json_object_set_new(o, "network_none", json_boolean(s->network_none));
    json_object_set_new(o, "image_cache", str_or_null(s->image_cache));
    json_object_set_new(o, "image_cache_max", json_integer((json_int_t)s->image_cache_max));
    json_object_set_new(o, "registries_conf", str_or_null(s->registries_conf));
    json_object_set_new(o, "auth_file", str_or_null(s->auth_file));
    json_object_set_new(o, "oci_runtime", str_or_null(s->oci_runtime));
    json_object_set_new(o, "cdi_dir", str_or_null(s->cdi_dir));
    json_object_set_new(o, "array_id", json_integer((json_int_t)s->array_id));
    json_object_set_new(o, "array_index", json_integer((json_int_t)s->array_index));
    json_object_set_new(o, "node_name", str_or_null(s->node_name));
    json_object_set_new(o, "node_list", str_or_null(s->node_list));
    json_object_set_new(o, "partition", str_or_null(s->partition));
    json_object_set_new(o, "output", str_or_null(s->output));
    json_object_set_new(o, "error", str_or_null(s->error));
    return o;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static char **jstrv(const json_t *arr)
{
    size_t n = json_array_size(arr);
    char **v = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        v[i] = (char *)(json_string_value(json_array_get(arr, i)) ?: "");
    return v;
}

int spec_wire_decode(const json_t *o, spec_wire_t *w)
{
    memset(w, 0, sizeof(*w));
    if (!json_is_object(o) || !json_is_integer(json_object_get(o, "job_id")) ||
        (json_array_size(json_object_get(o, "argv")) == 0 && !jstr(o, "image"))) {
        errno = EINVAL;
        return -1;
    }
    supervisor_spec_t *s = &w->s;
    s->job_id = jint(o, "job_id");
    s->incarnation = (int)jint(o, "incarnation");
    s->name = jstr(o, "name");
    s->team = jstr(o, "team");
    s->user = jstr(o, "user");
    s->allow_root = json_is_true(json_object_get(o, "allow_root"));
    s->allow_system_account = json_is_true(json_object_get(o, "allow_system_account"));
    s->argv = w->argv = jstrv(json_object_get(o, "argv"));
    s->env = w->env = jstrv(json_object_get(o, "env"));
    s->workdir = jstr(o, "workdir");
    const json_t *g = json_object_get(o, "gpus");
    s->ngpus = json_array_size(g);
    w->gpus = xcalloc(s->ngpus + 1, sizeof(int));
    for (size_t i = 0; i < s->ngpus; i++)
        w->gpus[i] = (int)json_integer_value(json_array_get(g, i));
    s->gpus = w->gpus;
    s->time_limit_s = jint(o, "time_limit_s");
    s->stop_signal = (int)jint(o, "stop_signal");
    s->grace_s = jint(o, "grace_s");
    s->dev_dir = jstr(o, "dev_dir");
    s->state_dir = jstr(o, "state_dir");
    s->checkpoint_root = jstr(o, "checkpoint_root");
    s->fence = json_is_true(json_object_get(o, "fence"));
    s->agent = (uint64_t)jint(o, "agent");
    const json_t *gang = json_object_get(o, "gang");
    if (json_is_object(gang)) {
        w->gang.nodes = (int)jint(gang, "nodes");
        w->gang.node_rank = (int)jint(gang, "node_rank");
        w->gang.master_port = (int)jint(gang, "master_port");
        w->gang.gpus_per_node = (int)jint(gang, "gpus_per_node");
        w->gang.world_size = (int)jint(gang, "world_size");
        w->gang.rank_offset = (int)jint(gang, "rank_offset");
        snprintf(w->gang.master_addr, sizeof(w->gang.master_addr), "%s",
                 jstr(gang, "master_addr") ?: "");
        s->gang = &w->gang;
    }
    const json_t *cg = json_object_get(o, "cgroup");
    if (json_is_object(cg)) {
        w->cgroup.root = jstr(cg, "root");
        w->cgroup.version = (cgroup_version_t)jint(cg, "version");
        w->cgroup.parent = jstr(cg, "parent");
        s->cgroup = &w->cgroup;
    }
    const json_t *lim = json_object_get(o, "limits");
    s->limits.memory_bytes = jint(lim, "memory_bytes");
    s->limits.cpu_milli = jint(lim, "cpu_milli");
    s->limits.pids_max = jint(lim, "pids_max");
    s->limits.restrict_devices = json_is_true(json_object_get(lim, "restrict_devices"));
    const json_t *m = json_object_get(o, "mounts");
    s->nmounts = json_array_size(m);
    w->mounts = xcalloc(s->nmounts + 1, sizeof(*w->mounts));
    for (size_t i = 0; i < s->nmounts; i++) {
        const json_t *e = json_array_get(m, i);
        w->mounts[i] = (supervisor_mount_t){.host_path = jstr(e, "host_path"),
                                            .sub_path = jstr(e, "sub_path"),
                                            .path = jstr(e, "path"),
                                            .read_only =
                                                json_is_true(json_object_get(e, "read_only"))};
    }
    s->mounts = w->mounts;
    s->image = jstr(o, "image");
    s->output_dir = jstr(o, "output_dir");
    s->scratch_root = jstr(o, "scratch_root");
    s->network_none = json_is_true(json_object_get(o, "network_none"));
    s->image_cache = jstr(o, "image_cache");
    s->image_cache_max = jint(o, "image_cache_max");
    s->registries_conf = jstr(o, "registries_conf");
    s->auth_file = jstr(o, "auth_file");
    s->oci_runtime = jstr(o, "oci_runtime");
    s->cdi_dir = jstr(o, "cdi_dir");
    s->array_id = jint(o, "array_id");
    s->array_index = jint(o, "array_index");
    s->node_name = jstr(o, "node_name");
    s->node_list = jstr(o, "node_list");
    s->partition = jstr(o, "partition");
    s->output = jstr(o, "output");
    s->error = jstr(o, "error");
    return 0;
}

void spec_wire_free(spec_wire_t *w)
{
    free(w->argv);
    free(w->env);
    free(w->gpus);
    free(w->mounts);
    memset(w, 0, sizeof(*w));
}
