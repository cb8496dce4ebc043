#!/bin/sh
#SBATCH -J breaks
#SBATCH --gpus=1
. ./report.sh
report fail
exit 3
