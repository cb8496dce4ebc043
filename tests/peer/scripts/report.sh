# report.sh: sourced by the side-by-side scripts: writes what the job saw to
# seen-TAG[-INDEX]-NODEID.txt in its working directory (one line per value both systems define).
report() {
  f="seen-$1${SLURM_ARRAY_TASK_ID:+-$SLURM_ARRAY_TASK_ID}-${SLURM_NODEID:-x}.txt"
  {
    echo "job_name=$SLURM_JOB_NAME"
    echo "num_nodes=$SLURM_JOB_NUM_NODES"
    echo "nnodes=$SLURM_NNODES"
    echo "node_id=$SLURM_NODEID"
    echo "array_index=${SLURM_ARRAY_TASK_ID:-}"
    echo "array_job_set=${SLURM_ARRAY_JOB_ID:+yes}"
    echo "pwd=$(basename "$PWD")"
    echo "submit_dir=$(basename "${SLURM_SUBMIT_DIR:-}")"
    echo "gpus_on_node=${SLURM_GPUS_ON_NODE:-}"
    echo "job_id_set=${SLURM_JOB_ID:+yes}"
  } > "$f"
}
