/* sched_config.h: the bridge from the configuration (src/common/config.h, plain values) to the
 * scheduling core (src/sched/sched.h): one place, above both, that turns a gt_config_t into a
 * scheduler. The server and the simulator build their scheduler here, so that one file means
 * the same cluster and the same policy to both. */
#ifndef GANTRY_MODEL_SCHED_CONFIG_H
#define GANTRY_MODEL_SCHED_CONFIG_H

#include <stdbool.h>

#include "common/config.h"
#include "common/util.h"
#include "sched/sched.h"

/* The scheduler's parameters of cfg: its scheduler: section over sched_params_default().
 * 0, or -1 with errno EINVAL and err (code "invalid_config", naming the line and the key) for
 * an order or placement the scheduler does not know. */
int model_sched_params(const gt_config_t *cfg, sched_params_t *out, gt_error_t *err);

/* Builds the scheduler of cfg: its parameters (model_sched_params), its priority classes (in
 * file order, each with its own order where it has one), its teams (parents first) with their
 * quotas and limits, and its nodes (file order; down when nodes_down: a server's declared
 * nodes wait for their agents). Returns a new scheduler (free with sched_free), or NULL with
 * errno and err; nothing is left behind on error. */
sched_t *model_sched_new(const gt_config_t *cfg, bool nodes_down, gt_error_t *err);

#endif
