"""Training steps per second of ``phasesim train``'s update against the straightforward
PyTorch CPU implementation of the identical update, and agreement of the trajectories.

    python benchmarks/bench_train.py [--steps 30] [--repeat 3] [--threads N]

PyTorch is needed only here (``pip install torch==2.13.0``, a CPU wheel); it is not a
dependency of the package, and without it this script says so and exits.

Setting (the issue's): P = 97, width N = 500, train fraction 0.5 (4704 training pairs of
``task.split(0.5, seed)``), full batch, MSE on one-hot targets, mean-field scale
c = 1/(2 P N), AdamW (lr 0.003, betas (0.9, 0.98), eps 1e-8, weight decay 0.1), float32 and
float64, 1 and 16 networks.

* ours: :class:`simulations.training.Trainer` without measurements (``run(n, measure=False)``):
  per network a numba gather (W1 x = W1[:, n] + W1[:, P + m]), two GEMMs of 2 B N P flops for
  the outputs and dL/dA, one for the W2 gradient, a numba scatter-add for the W1 gradient;
  networks spread over the threads (single-threaded BLAS in each);
* PyTorch: per network ``nn.Linear(2P, N, bias=False)`` and ``nn.Linear(N, P, bias=False)``
  on the dense one-hot inputs X (B, 2P), f = c lin2(lin1(X)^2), loss
  ((f - Y)^2).sum(1).mean(), autograd, ``torch.optim.AdamW``; the same initial weights
  (:func:`simulations.training.init_params`) and the same data; networks in a Python loop.

Both use the same number of threads (``--threads``, default: the CPUs). Agreement: after 100
float64 steps of one network, the largest relative difference of the weights
(max |ours - torch| / max |torch| per layer) is printed; the target is 1e-6.
Timings: ``--repeat`` interleaved blocks of ``--steps`` steps, best block reported.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _config(dtype, seeds):
    from simulations.training import TrainConfig

    return TrainConfig(P=97, widths=[500], train_fractions=[0.5], optimizer="adamw", lr=0.003,
                       weight_decay=0.1, betas=(0.9, 0.98), steps=10 ** 6, log_every=10 ** 6,
                       seeds=seeds, dtype=dtype)


def _ours(cfg):
    from simulations.training import Trainer

    tr = Trainer(cfg.task_obj(), cfg, 500, 0.5, list(range(cfg.seeds))).initialize()
    tr.run(1, measure=False)  # compile / warm up
    return tr


def _torch_models(cfg, torch):
    from simulations.training import init_params, output_scale

    task = cfg.task_obj()
    P, N = cfg.P, 500
    dt = torch.float64 if cfg.dtype == "float64" else torch.float32
    c = output_scale(P, N, cfg.parametrisation)
    nets = []
    for s in range(cfg.seeds):
        sp = task.split(0.5, s)
        X = torch.tensor(task.inputs(sp.train), dtype=dt)
        Y = torch.tensor(np.eye(P)[task.labels()[sp.train]], dtype=dt)
        W1, W2 = init_params(P, N, s, 1.0, cfg.dtype)
        l1 = torch.nn.Linear(2 * P, N, bias=False).to(dt)
        l2 = torch.nn.Linear(N, P, bias=False).to(dt)
        with torch.no_grad():
            l1.weight.copy_(torch.tensor(W1))
            l2.weight.copy_(torch.tensor(W2))
        opt = torch.optim.AdamW(list(l1.parameters()) + list(l2.parameters()), lr=0.003, betas=(0.9, 0.98),
                                eps=1e-8, weight_decay=0.1)
        nets.append((X, Y, l1, l2, opt, c))
    return nets


def _torch_steps(nets, n):
    for _ in range(n):
        for X, Y, l1, l2, opt, c in nets:
            opt.zero_grad(set_to_none=True)
            F = c * l2(l1(X) ** 2)
            loss = ((F - Y) ** 2).sum(dim=1).mean()
            loss.backward()
            opt.step()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--check-steps", type=int, default=100)
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("bench_train: PyTorch is not installed (pip install torch==2.13.0); skipped")
        return 0
    threads = args.threads or len(os.sched_getaffinity(0))
    os.environ["PHASESIM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    print(f"P=97, N=500, alpha=0.5 (4704 training pairs), full-batch AdamW, {threads} thread(s), "
          f"best of {args.repeat} x {args.steps} steps")
    print(f"{'dtype':>8s} {'nets':>5s} {'ours steps/s':>13s} {'torch steps/s':>14s} {'ratio':>6s}")
    for dtype in ("float32", "float64"):
        for seeds in (1, 16):
            cfg = _config(dtype, seeds)
            ours = _ours(cfg)
            nets = _torch_models(cfg, torch)
            _torch_steps(nets, 1)
            t_o, t_t = [], []
            n = max(1, args.steps // (4 if seeds > 1 else 1))
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                ours.run(n, measure=False)
                t_o.append(time.perf_counter() - t0)
                time.sleep(0.2)
                t0 = time.perf_counter()
                _torch_steps(nets, n)
                t_t.append(time.perf_counter() - t0)
                time.sleep(0.2)
            so, st = n / min(t_o), n / min(t_t)
            print(f"{dtype:>8s} {seeds:5d} {so:13.2f} {st:14.2f} {so / st:6.2f}", flush=True)
    # agreement after check-steps float64 steps of one network
    cfg = _config("float64", 1)
    from simulations.training import Trainer

    tr = Trainer(cfg.task_obj(), cfg, 500, 0.5, [0]).initialize()
    tr.run(args.check_steps, measure=False)
    nets = _torch_models(cfg, torch)
    _torch_steps(nets, args.check_steps)
    _, _, l1, l2, _, _ = nets[0]
    for name, ours_w, t_w in (("W1", tr.params["W1"][0], l1.weight), ("W2", tr.params["W2"][0], l2.weight)):
        t_w = t_w.detach().numpy()
        rel = float(np.max(np.abs(ours_w - t_w)) / np.max(np.abs(t_w)))
        print(f"after {args.check_steps} float64 steps: {name} max relative difference {rel:.2e} "
              f"({'<= 1e-6: agree' if rel <= 1e-6 else 'ABOVE 1e-6'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
