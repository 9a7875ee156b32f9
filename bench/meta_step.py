#!/usr/bin/env python
"""Step time and peak memory of ICL-MSR's phases, side by side on the same batch.

For each backbone: the base SimCLR step, phase 1 alone (SimCLR + lambda * L_msr), and phase 1 + phase 2 in each
meta-gradient mode ('exact', 'finite_difference', 'first_order'). Each variant runs in a fresh process so that
its peak memory (max RSS on the CPU, max allocated on a GPU) is its own. Prints a table; nothing is asserted.

    python bench/meta_step.py                      # small CNN (batch 256) and ResNet-18 with the CIFAR stem (batch 32), 32 px
    python bench/meta_step.py --archs smallcnn --bs 128 --steps 5
"""
import argparse, json, os, resource, subprocess, sys, time

VARIANTS = ('simclr', 'phase1', 'exact', 'finite_difference', 'first_order')

def run_one(arch, variant, bs, steps, warmup, size, device, seed):
    import torch
    from iclmsr.core import seed_everything, default_device
    from iclmsr.models import create_model
    from iclmsr.methods import SimCLR
    from iclmsr.msr import MetaSemanticRegularizer
    from iclmsr.meta import MetaObjective, meta_gradient
    dev = default_device(device)
    seed_everything(seed)
    cifar = arch != 'smallcnn'
    model = create_model('simclr', arch=arch, cifar_stem=cifar).to(dev).train()
    method = SimCLR()
    msr = MetaSemanticRegularizer(model.encoder.num_features, n=4).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    msr_opt = torch.optim.Adam(msr.parameters(), lr=1e-3)
    obj = MetaObjective(model, method)
    x = torch.rand(bs, 3, size, size, device=dev)
    xv = torch.cat([x.flip(-1), (0.8 * x + 0.1)])  # fixed views: the same batch for every variant
    lam, alpha = 0.5, 0.1
    def step():
        fmap = model(xv)
        loss = method.loss(fmap, model)
        if variant != 'simclr':
            with torch.no_grad(): a = msr(x)
            loss = loss + lam * method.msr_loss(fmap, a, model)
        loss.backward()
        if variant in ('exact', 'finite_difference', 'first_order'):
            g = [p.grad.detach() for p in model.parameters()] if variant == 'first_order' else None
            grads, _ = meta_gradient(obj, msr, x, xv, lam, alpha, mode=variant, g=g)
            for p, gr in zip(msr.parameters(), grads): p.grad = gr
            msr_opt.step(); msr_opt.zero_grad()
        opt.step(); opt.zero_grad()
    sync = (lambda: torch.cuda.synchronize()) if dev.type == 'cuda' else (lambda: None)
    for _ in range(warmup): step()
    sync()
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats()
    ts = []
    for _ in range(steps):
        t = time.perf_counter(); step(); sync(); ts.append(time.perf_counter() - t)
    ts.sort()
    mem = torch.cuda.max_memory_allocated() / 2**20 if dev.type == 'cuda' else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(arch=arch, variant=variant, bs=bs, ms=1000 * ts[len(ts) // 2], peak_mib=mem, device=str(dev))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--archs', default='smallcnn,resnet18')
    p.add_argument('--bs', type=int, default=None, help='batch size (default: 256 for smallcnn, 32 for resnet*)')
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--size', type=int, default=32)
    p.add_argument('--device', default='auto')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--one', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        arch, variant, bs = a.one.split(':')
        print(json.dumps(run_one(arch, variant, int(bs), a.steps, a.warmup, a.size, a.device, a.seed)))
        return
    rows = []
    for arch in a.archs.split(','):
        bs = a.bs or (256 if arch == 'smallcnn' else 32)
        for v in VARIANTS:
            cmd = [sys.executable, __file__, '--one', f'{arch}:{v}:{bs}', '--steps', str(a.steps), '--warmup', str(a.warmup),
                   '--size', str(a.size), '--device', a.device, '--seed', str(a.seed)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode: sys.exit(f"{arch}/{v} failed:\n{out.stderr}")
            r = json.loads(out.stdout.strip().splitlines()[-1]); rows.append(r)
            base = next(x for x in rows if x['arch'] == arch and x['variant'] == 'simclr')
            print(f"{arch:9s} bs={bs:<4d} {v:18s} {r['ms']:9.1f} ms/step  {r['ms'] / base['ms']:5.2f}x  peak {r['peak_mib']:8.0f} MiB  ({r['device']})", flush=True)
    print(f"\nthreads={os.environ.get('OMP_NUM_THREADS', 'default')}, {a.size} px, fp32, median of {a.steps} steps after {a.warmup} warm-up")

if __name__ == '__main__': main()
