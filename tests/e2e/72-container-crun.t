#!/usr/bin/env bash
# 72-container-runc.t with crun (1.8 refuses a hybrid cgroup layout: the supervisor unmounts
# the cgroup2 mount in its own mount namespace first).
OCI_RT=crun exec "$(dirname "$0")/72-container-runc.t"
