#!/bin/sh
#SBATCH -J cleanup
#SBATCH --gpus=1
. ./report.sh
report "$1"
