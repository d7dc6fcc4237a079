#!/usr/bin/env bash
# The analysis runtime alone, without the server: set up, generate PYTHIA 8 demo data (once, cached in var/),
# build two package tags of the physics package (0.1.0 from history, 0.2.0 from the tree),
# and run a demo train locally on 2 cores. Prints where everything is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
HL=.venv/bin/hyperloop
VAR=${HYPERLOOP_VAR:-var}
mkdir -p "$VAR"

if [ ! -f "$VAR/demo-data/manifest.json" ]; then
  echo "== generating demo data (PYTHIA 8, pp 13.6 TeV, with MC truth)"
  $HL demo-data --out "$VAR/demo-data" --runs 523308,523309,523310 --events-per-run 4000 \
    --mc --seed 1 --fast --pool-size 2000 --dfs-per-file 4 --events-per-df 500
fi

echo "== package tags"
if [ ! -d "$VAR/tags/physics-0.1.0" ]; then
  old=$(git log --format=%H -1 --grep "hyperloop-physics 0.1.0" 2>/dev/null || true)
  if [ -n "$old" ]; then
    $HL package build physics --tag physics-0.1.0 --tags-dir "$VAR/tags" --git-ref "$old"
  else
    echo "   (no git history here: only the current tag is built)"
  fi
fi
[ -d "$VAR/tags/physics-0.2.0" ] || \
  $HL package build physics --tag physics-0.2.0 --tags-dir "$VAR/tags" --pull-requests 101
ls "$VAR/tags"

echo "== demo train: services + spectra, correlations, strangeness, MC closure"
train="$VAR/demo-train"
mkdir -p "$train"
ls "$VAR"/demo-data/*/AO2D_*.root > "$train/input_data.txt"
cat > "$train/full_config.json" <<JSON
{
  "package_tag": "physics-0.2.0",
  "dataset_production_type": "mc",
  "cpu_cores": 2,
  "workflows": [
    {"workflow_name": "event-selection", "suffix": "", "wagon_id": 1, "configuration": {}},
    {"workflow_name": "track-selection", "suffix": "", "wagon_id": 2, "configuration": {}},
    {"workflow_name": "multiplicity", "suffix": "", "wagon_id": 3, "configuration": {}},
    {"workflow_name": "pid", "suffix": "", "wagon_id": 4, "configuration": {}},
    {"workflow_name": "spectra-charged", "suffix": "", "wagon_id": 10, "configuration": {}},
    {"workflow_name": "spectra-charged", "suffix": "_eta05", "wagon_id": 10,
     "configuration": {"spectra-charged": {"etaMax": "0.5"}}},
    {"workflow_name": "two-particle-correlations", "suffix": "", "wagon_id": 11, "configuration": {}},
    {"workflow_name": "strangeness", "suffix": "", "wagon_id": 12, "configuration": {}},
    {"workflow_name": "mc-spectra", "suffix": "", "wagon_id": 13, "configuration": {}}
  ]
}
JSON
$HL run-train "$train/full_config.json" --input "$train/input_data.txt" \
  --out "$train/output" --package "$VAR/tags/physics-0.2.0" --cores 2
$HL results "$train/output/AnalysisResults.root"
cat <<MSG

Done. Outputs of the demo train are in $train/output:
  AnalysisResults.root      histograms, a directory per wagon (open with ROOT, uproot or JSROOT)
  performanceMetrics.json   CPU and memory per device over time (O2 layout)
  metrics_summary.json      totals per wagon, reader, writer and the whole train
Reproduce it with:  $HL run-train $train/full_config.json --input $train/input_data.txt --package $VAR/tags/physics-0.2.0
MSG
