#!/usr/bin/env bash
# Rebuild the shipped reference model (models/reference) from ../shared/data, then write
# its model card's figures with `neurokube evaluate`. Deterministic: the same inputs and
# seeds give the same corpora and the same weights.
#
#   bash training/train_reference.sh WORK_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${NEUROKUBE_SHARED:-$here/../shared}
work=${1:?usage: train_reference.sh WORK_DIR}
mkdir -p "$work" && cd "$work"
bg="$shared/data/real_background"
train_persons='S001|S002|S004|S038|Subject00|Subject02|Subject06|Subject08|Subject13|Subject16|Subject29'
dev_persons='S003|S040|S050|Subject10|Subject19|Subject22'
ls "$bg"/*.edf | grep -E "$train_persons" > train_bg.list
ls "$bg"/*.edf | grep -E "$dev_persons" > dev_bg.list

make_tcp() { python "$shared/tools/make_tcp_corpus.py" --bonn "$shared/data/bonn" "$@"; }
make_tcp --out tcp_train --segments 1-60 --records 40 --minutes 10 --seed 7 --split train
make_tcp --out tcp_train2 --segments 1-60 --records 40 --minutes 10 --seed 17 --split train
make_tcp --out tcp_dev --segments 61-80 --records 20 --minutes 10 --seed 8 --split dev
neurokube mix-corpus --backgrounds train_bg.list --bonn "$shared/data/bonn" --segments 1-60 \
    --output mixed_train --seed 21 --seizure-variants 10 --clean-variants 3
neurokube mix-corpus --backgrounds dev_bg.list --bonn "$shared/data/bonn" --segments 61-80 \
    --output mixed_dev --seed 12 --seizure-variants 4 --clean-variants 2
python "$here/training/chbmit_pairs.py" --chbmit "$shared/data/chbmit_chb03" \
    --seizures 01,02,03,04 --output chb_pairs_train
python "$here/training/chbmit_pairs.py" --chbmit "$shared/data/chbmit_chb03" \
    --seizures 34,35,36 --output chb_pairs_dev

neurokube train --corpus tcp_train/edf tcp_train2/edf mixed_train train_bg.list chb_pairs_train \
    --dev tcp_dev/edf mixed_dev dev_bg.list chb_pairs_dev \
    --output reference --examples examples --card-notes "$here/training/card_notes.json"

# The evaluation corpus: Bonn segments 61-80 arranged with a seed never used for tuning.
make_tcp --out tcp_eval --segments 61-80 --records 24 --minutes 30 --seed 4242 --split eval
neurokube evaluate --model reference --card --output leaderboard \
    --corpus stitched_eval=tcp_eval/edf --corpus stitched_dev=tcp_dev/edf \
    --corpus real_bg_dev=dev_bg.list --corpus mixed_dev=mixed_dev \
    --corpus chb03_pairs_dev=chb_pairs_dev --corpus chb03_clips="$shared/data/chbmit_chb03"
echo "bundle: $work/reference (copy it to models/reference)"
