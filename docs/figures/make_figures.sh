#!/usr/bin/env bash
# Regenerate the example figures of docs/ with the real command line (about a minute).
# Usage: bash docs/figures/make_figures.sh [SCRATCH_DIR]   (run from the repository root)
set -euo pipefail
out=docs/figures
tmp=${1:-$(mktemp -d)}
plot() { phasesim plot "$1" --kind "$2" -o "$out/$3.png" --dpi 150 --overwrite; }

# modular addition, the paper's Fig. 3 setting: default (derived) and paper normalisation
phasesim scan --teacher modadd -q --overwrite -o "$tmp/modadd.h5"
phasesim scan --teacher modadd --normalization paper -q --overwrite -o "$tmp/modadd_paper.h5"
phasesim scan --teacher modadd --normalization paper --vary gamma=5e-5:3e-4:11 --sigma2 0.30:0.13:69 \
    -q --overwrite -o "$tmp/modadd_phase_gamma.h5"
plot "$tmp/modadd.h5" landscape modadd_landscape
plot "$tmp/modadd.h5" order modadd_order
plot "$tmp/modadd_paper.h5" landscape modadd_paper_landscape
plot "$tmp/modadd_paper.h5" order modadd_paper_order
plot "$tmp/modadd_paper.h5" free-energy modadd_paper_free_energy
plot "$tmp/modadd_phase_gamma.h5" phase modadd_paper_phase_gamma

# cubic teacher: default (finite-d quadrature) and the d -> infinity saddle point
phasesim scan --teacher cubic -q --overwrite -o "$tmp/cubic.h5"
phasesim scan --teacher cubic --method saddle -q --overwrite -o "$tmp/cubic_saddle.h5"
phasesim scan --teacher cubic --vary eps=-0.6:-0.1:11 -q --overwrite -o "$tmp/cubic_phase_eps.h5"
plot "$tmp/cubic.h5" landscape cubic_landscape
plot "$tmp/cubic.h5" order cubic_order
plot "$tmp/cubic_saddle.h5" landscape cubic_saddle_landscape
plot "$tmp/cubic_saddle.h5" order cubic_saddle_order
plot "$tmp/cubic_saddle.h5" free-energy cubic_saddle_free_energy
plot "$tmp/cubic_phase_eps.h5" phase cubic_phase_eps
