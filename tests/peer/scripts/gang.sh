#!/bin/sh
#SBATCH --job-name=pair
#SBATCH -N 2
#SBATCH --gpus-per-node=1
#SBATCH --time=5:00
. ./report.sh
report gang
