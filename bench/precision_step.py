#!/usr/bin/env python
"""Time of one SimCLR training step in each precision on this machine, through fastai and `Learner.to_precision`.

The small CNN (`create_model('simclr', arch='smallcnn')`), batches of 128 images at 32 px (synthetic), the whole
training step (views, forward, loss, backward, Adam step); median of --steps steps after --warmup warm-up steps.
Prints the CPU capability torch sees and whether the device has native bf16. Nothing is asserted.

    OMP_NUM_THREADS=1 python bench/precision_step.py
    python bench/precision_step.py --precisions fp32,bf16,fp16 --device cuda
"""
import argparse, os, platform, statistics, time
import torch
from fastai.learner import Learner
from fastai.callback.core import Callback, CancelValidException
import fastai.callback.progress  # Learner.no_bar
from iclmsr.core import seed_everything, default_device, native_bf16
from iclmsr.models import create_model
from iclmsr.methods import SimCLR
from iclmsr.testing import synthetic_dls
import iclmsr.precision  # Learner.to_precision

class StepTimer(Callback):
    "Wall time of every training step, from the batch to the optimizer step; skips validation."
    order = -100
    def before_fit(self): self.times = []
    def before_batch(self):
        if self.device.type == 'cuda': torch.cuda.synchronize()
        self.t = time.perf_counter()
    def after_step(self):
        if self.device.type == 'cuda': torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self.t)
    def before_validate(self): raise CancelValidException()
    @property
    def device(self): return self.learn.dls.device or torch.device('cpu')

def step_seconds(precision, device, bs, size, steps, warmup, seed=0):
    seed_everything(seed)
    dls = synthetic_dls(n=bs * (steps + warmup), bs=bs, size=size, device=device)
    learn = Learner(dls, create_model('simclr', arch='smallcnn', seed=seed), cbs=[SimCLR(), StepTimer()]).to_precision(precision)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    return statistics.median(learn.step_timer.times[warmup:])

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--precisions', default='fp32,bf16')
    p.add_argument('--device', default='cpu')
    p.add_argument('--bs', type=int, default=128)
    p.add_argument('--size', type=int, default=32)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    a = p.parse_args()
    dev = default_device(a.device)
    cpu = f"{platform.machine()}, CPU capability {torch.backends.cpu.get_cpu_capability()}"
    print(f"{cpu}, {dev.type}: native bf16 {native_bf16(dev)}; torch {torch.__version__}, {torch.get_num_threads()} threads "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})")
    rows = {}
    for prec in a.precisions.split(','):
        rows[prec] = step_seconds(prec, dev, a.bs, a.size, a.steps, a.warmup)
        print(f"{prec:5s} {rows[prec]:8.3f} s/step  {rows[prec] / next(iter(rows.values())):6.2f}x", flush=True)
    print(f"SimCLR, small CNN, {a.bs} images at {a.size} px, median of {a.steps} steps after {a.warmup} warm-up")

if __name__ == '__main__': main()
