#!/bin/sh
#SBATCH -J sweep
#SBATCH --array=0-4:2%2
#SBATCH -t 0-0:02
#SBATCH --gpus=1
. ./report.sh
report array
