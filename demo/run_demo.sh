#!/usr/bin/env bash
# A three-step pipeline recorded by roar in a throw-away git repository, then its DAG.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${ROAR_DEMO_DIR:-$(mktemp -d /tmp/roar-demo.XXXXXX)}
mkdir -p "$work" && cd "$work"
rm -rf .git .roar data models
git init -q
git config user.email demo@roar.invalid && git config user.name "roar demo"
cp "$here"/pipeline/*.py .
mkdir -p data models
printf 'data/\nmodels/\nmetrics.json\n' > .gitignore
git add . && git commit -qm "demo pipeline"

echo "+ roar init -y"; roar init -y
echo "+ roar run python prepare.py"; roar run python prepare.py
echo "+ roar run python train.py --epochs=3"; roar run python train.py --epochs=3
echo "+ roar run python evaluate.py"; roar run python evaluate.py
echo "+ roar dag"; roar dag
echo "+ roar dag --format svg -o dag.svg"; roar dag --format svg -o dag.svg
echo "+ roar lineage -o text metrics.json"; roar lineage -o text metrics.json
echo
echo "Demo project left in $work (open $work/dag.svg to see the DAG drawn)"
