#!/usr/bin/env bash
# Rebuild the shipped models from ../shared/data: the reference model (models/reference)
# and the causal one for `neurokube stream` (models/reference_causal); then write their
# model cards' figures with `neurokube evaluate`. Deterministic: the same inputs and seeds
# give the same corpora and the same weights.
#
#   bash training/train_reference.sh WORK_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${NEUROKUBE_SHARED:-$here/../shared}
work=${1:?usage: train_reference.sh WORK_DIR}
mkdir -p "$work" && cd "$work"
bg="$shared/data/real_background"
chb="$shared/data/chbmit_chb03"
train_persons='S001|S002|S004|S038|Subject00|Subject02|Subject06|Subject08|Subject13|Subject16|Subject29'
dev_persons='S003|S040|S050|Subject10|Subject19|Subject22'
ls "$bg"/*.edf | grep -E "$train_persons" > train_bg.list
ls "$bg"/*.edf | grep -E "$dev_persons" > dev_bg.list
ls "$chb"/chbmit_chb03_0[1-4]_*.edf > chb_train.list
ls "$chb"/chbmit_chb03_3[4-6]_*.edf > chb_dev.list

make_tcp() { python "$shared/tools/make_tcp_corpus.py" --bonn "$shared/data/bonn" "$@"; }
make_tcp --out tcp_train --segments 1-60 --records 40 --minutes 10 --seed 7 --split train
make_tcp --out tcp_train2 --segments 1-60 --records 40 --minutes 10 --seed 17 --split train
make_tcp --out tcp_dev --segments 61-80 --records 20 --minutes 10 --seed 8 --split dev
neurokube mix-corpus --backgrounds train_bg.list --bonn "$shared/data/bonn" --segments 1-60 \
    --output mixed_train --seed 21 --seizure-variants 10 --clean-variants 3
neurokube mix-corpus --backgrounds dev_bg.list --bonn "$shared/data/bonn" --segments 61-80 \
    --output mixed_dev --seed 12 --seizure-variants 4 --clean-variants 2

train=(tcp_train/edf tcp_train2/edf mixed_train train_bg.list chb_train.list)
# P3's operating point is tuned on the dev corpora of real scalp EEG (real backgrounds,
# with and without Bonn seizures placed in them, and chb03's clips); the stitched dev
# corpus, whose backgrounds are mostly intracranial, is reported only.
dev=(mixed_dev dev_bg.list chb_dev.list)
notes="$here/training/card_notes.json"
neurokube train --corpus "${train[@]}" --dev "${dev[@]}" --dev_report_only tcp_dev/edf \
    --output reference --examples reference.examples --card-notes "$notes" \
    --model_config "$here/training/reference_model_config.json" \
    --train_config "$here/training/reference_train_config.json"
neurokube train --corpus "${train[@]}" --dev "${dev[@]}" --dev_report_only tcp_dev/edf \
    --output reference_causal --examples reference_causal.examples --card-notes "$notes" \
    --model_config "$here/training/causal_model_config.json" \
    --feature_spec "$here/training/causal_feature_spec.json"

# The evaluation corpus: Bonn segments 61-80 arranged with a seed never used for tuning.
make_tcp --out tcp_eval --segments 61-80 --records 24 --minutes 30 --seed 4242 --split eval
for model in reference reference_causal; do
    neurokube evaluate --model "$model" --card --output "leaderboard_$model" \
        --corpus stitched_eval=tcp_eval/edf --corpus stitched_dev=tcp_dev/edf \
        --corpus real_bg_dev=dev_bg.list --corpus mixed_dev=mixed_dev \
        --corpus chb03_dev=chb_dev.list
done
echo "bundles: $work/reference, $work/reference_causal (copy them to models/)"
