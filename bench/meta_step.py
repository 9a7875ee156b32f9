#!/usr/bin/env python
"""Step time and peak memory of ICL-MSR's phases against a SimCLR step, side by side on the same batch.

Variants: the base SimCLR step; phase 1 alone (SimCLR + lambda * L_msr); phase 1 + phase 2 in each meta-gradient
mode ('exact', 'finite_difference', 'first_order'), phase 2 after every batch reusing phase 1's gradients, strata
and pooled features as the `ICLMSR` callback does. All variants start from the same weights and train on the same
fixed batch; their steps are timed in ONE process, interleaved round by round (the order rotates each round), so
that a shared, loaded machine slows them alike. A variant's ratio is the median over rounds of its step time over
the SimCLR step of the same round; with one thread on a CPU the clock is the process's CPU time (--clock).
'exact_before' is the exact mode as it was before issue 11 (double backward through the whole virtual step), for
comparison. Peak memory (peak RSS of a fresh process during one step of that variant alone, after a warm-up step) is
measured after, one subprocess per variant (--no-memory skips it).

    OMP_NUM_THREADS=1 python bench/meta_step.py                    # small CNN, batch 256, 32 px
    OMP_NUM_THREADS=1 python bench/meta_step.py --archs smallcnn,resnet18 --rounds 3
"""
import argparse, copy, json, os, platform, re, resource, statistics, subprocess, sys, time

VARIANTS = ('simclr', 'phase1', 'exact', 'finite_difference', 'first_order', 'exact_before')
TARGETS = dict(phase1=1.15, exact=3.5, finite_difference=3.0, first_order=1.6)  # x a SimCLR step (issue 11)

def exact_before(obj, msr, x, xv, lam, alpha, gamma=0.1, s=2.0):
    "The exact meta-gradient as main computed it before issue 11: double backward through the whole virtual step."
    import torch
    from iclmsr.meta import _call
    from iclmsr.losses import uniformity
    model = obj.model
    names = [k for k, p in model.named_parameters() if p.requires_grad]
    th = {k: (p.detach().clone().requires_grad_() if k in names else p.detach()) for k, p in model.named_parameters()}
    bufs = {k: b.detach() for k, b in model.named_buffers()}  # copied by _call: BN statistics written to the copies
    phi = [p for p in msr.parameters() if p.requires_grad]
    a = msr(x)
    ct, lm = _call(obj, th, bufs, xv, a)
    gs = torch.autograd.grad(ct + lam * lm, [th[k] for k in names], create_graph=True)
    ct1 = _call(obj, {**th, **{k: th[k] - alpha * g for k, g in zip(names, gs)}}, bufs, xv)
    return torch.autograd.grad(ct1 + gamma * uniformity(a, s), phi)

def make_step(variant, model, msr, method, x, xv, lam=0.5, alpha=0.1):
    "One training step of `variant` on the fixed batch, as a closure."
    import torch
    from iclmsr.meta import MetaObjective, meta_gradient
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    msr_opt = torch.optim.Adam(msr.parameters(), lr=1e-3)
    obj, meta = MetaObjective(model, method), variant in ('exact', 'finite_difference', 'first_order')
    ps = list(model.parameters())
    def step():
        fmap = model(xv)
        loss = method.loss(fmap, model)
        if variant != 'simclr':
            if meta: a = msr(x)  # kept with its graph for phase 2, as `ICLMSR` does (not by 'exact_before')
            else:
                with torch.no_grad(): a = msr(x)
            loss = loss + lam * method.msr_loss(fmap, a.detach(), model)
        loss.backward()
        if variant == 'exact_before':
            for p, gr in zip(msr.parameters(), exact_before(obj, msr, x, xv, lam, alpha)): p.grad = gr
            msr_opt.step(); msr_opt.zero_grad()
        if meta:
            g = [p.grad.detach() for p in ps]
            grads, _ = meta_gradient(obj, msr, x, xv, lam, alpha, mode=variant, g=g, a=a, h=model.pool(fmap.detach()))
            for p, gr in zip(msr.parameters(), grads): p.grad = gr
            msr_opt.step(); msr_opt.zero_grad()
        opt.step(); opt.zero_grad()
    return step

def setup(arch, bs, size, device, seed):
    import torch
    from iclmsr.core import seed_everything, default_device
    from iclmsr.models import create_model
    from iclmsr.methods import SimCLR
    from iclmsr.msr import MetaSemanticRegularizer
    dev = default_device(device)
    seed_everything(seed)
    model = create_model('simclr', arch=arch, cifar_stem=arch != 'smallcnn').to(dev).train()
    msr = MetaSemanticRegularizer(model.encoder.num_features, n=4).to(dev)
    x = torch.rand(bs, 3, size, size, device=dev)
    xv = torch.cat([x.flip(-1), (0.8 * x + 0.1)])  # fixed views: the same batch for every variant
    return dev, model, msr, SimCLR(), x, xv

def time_all(arch, bs, size, device, seed, rounds, warmup, clock=time.perf_counter):
    "Median ms per step and median ratio to the SimCLR step of the same round, for every variant, in this process."
    import torch
    dev, model, msr, method, x, xv = setup(arch, bs, size, device, seed)
    steps = {v: make_step(v, copy.deepcopy(model), copy.deepcopy(msr), method, x, xv) for v in VARIANTS}
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    for _ in range(warmup):
        for f in steps.values(): f()
    ts = {v: [] for v in VARIANTS}
    for i in range(rounds):
        order = VARIANTS[i % len(VARIANTS):] + VARIANTS[:i % len(VARIANTS)]
        for v in order:
            sync(); t = clock(); steps[v](); sync(); ts[v].append(clock() - t)
    ratios = {v: statistics.median(t / s for t, s in zip(ts[v], ts['simclr'])) for v in VARIANTS}
    return {v: dict(ms=1000 * statistics.median(ts[v]), ratio=ratios[v]) for v in VARIANTS}, dev

COMPONENTS = ('simclr step', 'msr forward', 'msr forward+backward', 'strata head forward+backward', 'encoder forward, no graph')

def time_components(arch, bs, size, device, seed, rounds, warmup, clock=time.perf_counter):
    "Median ms of the pieces the ICL-MSR variants are made of, interleaved in this process like `time_all`."
    import torch
    from iclmsr.meta import MetaObjective, _virtual_buffers, _call
    from torch.func import functional_call
    dev, model, msr, method, x, xv = setup(arch, bs, size, device, seed)
    obj = MetaObjective(model, method)
    with torch.no_grad(): a0, h0 = msr(x), model.pool(model(xv))
    theta = {k: p.detach() for k, p in model.named_parameters()}
    head = {k: t for k, t in theta.items() if not k.startswith('encoder.')}
    bufs = _virtual_buffers(model)
    def simclr():
        method.loss(model(xv), model).backward(); model.zero_grad()
    def msr_fwd():
        with torch.no_grad(): msr(x)
    def msr_fb():
        msr(x).sum().backward(); msr.zero_grad()
    def head_fb():  # L_msr from the pooled features: n strata through the projector, the backdoor loss, and back to A_s
        a = a0.clone().requires_grad_()
        _call(obj, head, bufs, h0, a, msr_only=True, pooled=True).backward()
    def enc_fwd():  # the encoder at (virtual) parameters, batch statistics, as the finite differences run it
        with torch.no_grad(): model.pool(functional_call(model, {**theta, **bufs}, (xv,)))
    fs = dict(zip(COMPONENTS, (simclr, msr_fwd, msr_fb, head_fb, enc_fwd)))
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    for _ in range(warmup):
        for f in fs.values(): f()
    ts = {k: [] for k in fs}
    for i in range(rounds):
        for k, f in fs.items():
            sync(); t = clock(); f(); sync(); ts[k].append(clock() - t)
    ratios = {k: statistics.median(t / s for t, s in zip(ts[k], ts['simclr step'])) for k in fs}
    return {k: dict(ms=1000 * statistics.median(ts[k]), ratio=ratios[k]) for k in fs}

def print_components(c, res):
    "The components and the cost each mode cannot go below with them, against the measured ratio."
    r = {k: v['ratio'] for k, v in c.items()}
    print(f"\n{'component':32s} {'ms':>8s} {'x SimCLR':>9s}")
    for k, v in c.items(): print(f"{k:32s} {v['ms']:8.1f} {v['ratio']:8.2f}x")
    p1 = 1 + r['msr forward'] + r['strata head forward+backward']
    fo = p1 + (r['msr forward+backward'] - r['msr forward']) + r['encoder forward, no graph'] + r['strata head forward+backward']
    fd = fo + 1 + r['encoder forward, no graph'] + r['strata head forward+backward']  # + v = grad L_ct(theta^1): a whole step
    print(f"\nwhat a mode costs at least with these components (x SimCLR; lower bounds: they leave out the head's weight "
          f"gradients and all bookkeeping), against the measured step and the target:")
    for v, f, how in (('phase1', p1, 'SimCLR step + f_msr forward + L_msr through the n strata (forward and backward)'),
                      ('first_order', fo, 'phase 1 + f_msr backward + 1 encoder forward at theta + eps v + 1 L_msr with its graph to A_s'),
                      ('finite_difference', fd, 'first order + v = grad L_ct at theta^1 (about a SimCLR step) + 1 more encoder forward and L_msr')):
        print(f"{v:18s} floor {f:5.2f}x  measured {res[v]['ratio']:5.2f}x  target {TARGETS[v]}x  ({how})")

def reset_peak_rss() -> bool:
    "Reset this process's peak RSS (Linux: VmHWM, via /proc/self/clear_refs); False where that is not possible."
    try: open('/proc/self/clear_refs', 'w').write('5'); return True
    except OSError: return False

def peak_rss_mib() -> float:
    "Peak RSS of this process in MiB: VmHWM (since the last reset) where /proc has it, else ru_maxrss."
    try: return int(re.search(r'VmHWM:\s+(\d+)', open('/proc/self/status').read()).group(1)) / 1024
    except (OSError, AttributeError): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def peak_one(arch, variant, bs, size, device, seed):
    "Peak RSS (MiB; max allocated on a GPU) of this process during one step of `variant` alone, after a warm-up step."
    import torch
    dev, model, msr, method, x, xv = setup(arch, bs, size, device, seed)
    f = make_step(variant, model, msr, method, x, xv)
    f()
    if dev.type == 'cuda': torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    reset_peak_rss()
    f()
    if dev.type == 'cuda': torch.cuda.synchronize(); return torch.cuda.max_memory_allocated() / 2**20
    return peak_rss_mib()

def verdict(v, ratio):
    t = TARGETS.get(v)
    if t is None: return 'reference' if v == 'simclr' else 'main before issue 11'
    return f"met (<= {t}x)" if ratio <= t else f"{100 * (ratio / t - 1):.0f}% over {t}x"

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--archs', default='smallcnn')
    p.add_argument('--bs', type=int, default=None, help='batch size (default: 256 for smallcnn, 32 for resnet*)')
    p.add_argument('--rounds', type=int, default=5, help='timed rounds (one step of every variant each)')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--size', type=int, default=32)
    p.add_argument('--device', default='cpu')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--clock', choices=['auto', 'cpu', 'wall'], default='auto',
                   help="'cpu': this process's CPU time, steadier on a shared machine with one thread; 'auto': cpu on a CPU "
                        "with one thread, else wall")
    p.add_argument('--no-memory', action='store_true', help='skip the peak-memory subprocesses')
    p.add_argument('--no-components', action='store_true', help='skip the table of the pieces a meta step is made of')
    p.add_argument('--one', help=argparse.SUPPRESS)
    a = p.parse_args()
    import torch
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', 0)) or torch.get_num_threads())
    if a.one:
        arch, variant, bs = a.one.split(':')
        print(json.dumps(dict(peak_mib=peak_one(arch, variant, int(bs), a.size, a.device, a.seed))))
        return
    print(f"{platform.machine()}, CPU capability {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s) (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), fp32, {a.size} px")
    cpu_clock = a.clock == 'cpu' or (a.clock == 'auto' and a.device == 'cpu' and torch.get_num_threads() == 1)
    clock = time.process_time if cpu_clock else time.perf_counter
    for arch in a.archs.split(','):
        bs = a.bs or (256 if arch == 'smallcnn' else 32)
        res, dev = time_all(arch, bs, a.size, a.device, a.seed, a.rounds, a.warmup, clock)
        peaks = {}
        if not a.no_memory:
            for v in VARIANTS:
                cmd = [sys.executable, __file__, '--one', f'{arch}:{v}:{bs}', '--size', str(a.size), '--device', a.device, '--seed', str(a.seed)]
                out = subprocess.run(cmd, capture_output=True, text=True)
                if out.returncode: sys.exit(f"{arch}/{v} failed:\n{out.stderr}")
                peaks[v] = json.loads(out.stdout.strip().splitlines()[-1])['peak_mib']
        print(f"\n{arch}, batch {bs} ({2 * bs} views), {dev}: median of {a.rounds} interleaved rounds after {a.warmup} warm-up, "
              f"{'process CPU time' if cpu_clock else 'wall time'}")
        print(f"{'variant':18s} {'ms/step':>9s} {'x SimCLR':>9s} {'target':>7s}  {'verdict':22s} {'peak MiB':>9s}")
        for v in VARIANTS:
            r = res[v]; t = TARGETS.get(v)
            print(f"{v:18s} {r['ms']:9.1f} {r['ratio']:8.2f}x {(f'{t}x' if t else '-'):>7s}  {verdict(v, r['ratio']):22s} "
                  f"{peaks.get(v, float('nan')):9.0f}", flush=True)
        if not a.no_components:
            print_components(time_components(arch, bs, a.size, a.device, a.seed, a.rounds, a.warmup, clock), res)
    print("\nPeak: the peak RSS (VmHWM, reset after a warm-up step) of a fresh process during one step of the variant alone "
          "(max allocated on a GPU). exact_before: the exact mode as main computed it before issue 11 (double backward "
          "through the whole virtual step), on the same batch.")

if __name__ == '__main__': main()
