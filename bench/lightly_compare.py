#!/usr/bin/env python
"""SimCLR three ways on the same data, backbone and batch: our Learner, a bare loop with our pieces, lightly's pipeline.

The same images (confounded digits, preset 'standard', 32 px), the same small-CNN `SSLModel` (same initial weights),
batch 256, Adam 1e-3, the same SimCLR-for-32-px augmentation (crop 0.08-1, flip, colour jitter 0.4/0.4/0.4/0.1 with
p 0.8, grayscale 0.2, no blur), temperature 0.5, the same number of images:
  learner  fastai `Learner` + `SimCLR()` callback over `confounded_dls` (views drawn batched, per image, by iclmsr.augment)
  bare     a plain PyTorch loop: one indexing of the in-memory arrays per batch, `ContrastiveViews`, `SimCLR().loss`
  lightly  `lightly.transforms.SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0, normalize=None)` on PIL
           images in a torch `DataLoader` (--workers), `lightly.loss.NTXentLoss(0.5)` on the two projections
Timing: epochs of the three ways are interleaved round by round in ONE process (a shared machine slows them alike);
images/s is the median over rounds; with one thread and no workers the clock is the process's CPU time (--clock). Augmentation share: time inside the view pipeline (ours: `ContrastiveViews`;
lightly with 0 workers: the DataLoader's next batch, i.e. PIL conversion + transforms + collate) over the step time.
Peak memory: the peak RSS (Linux VmHWM, reset just before; `ru_maxrss` where there is no /proc) while the first
epoch of that way runs alone in a fresh process, and its growth over the RSS before the epoch (--no-memory skips it). Needs lightly (`pip install -c constraints.txt -e '.[bench]'`).

    OMP_NUM_THREADS=1 python bench/lightly_compare.py [--n 2048] [--rounds 3] [--workers 0]
"""
import argparse, copy, json, os, platform, re, resource, statistics, subprocess, sys, time

WAYS = ('learner', 'bare', 'lightly')

CLOCK = time.perf_counter  # set in main(): time.process_time with one thread and no workers

class Timed:
    "Wraps a callable and adds the time spent inside it to `self.t`."
    def __init__(self, f): self.f, self.t = f, 0.
    def __call__(self, *a, **k):
        t = CLOCK(); r = self.f(*a, **k); self.t += CLOCK() - t
        return r

def build(a):
    import torch
    from iclmsr.core import seed_everything
    from iclmsr.data import confounded_dls
    from iclmsr.models import create_model
    seed_everything(a.seed)
    dls = confounded_dls('digits', n_train=a.n, n_valid=a.bs, size=32, bs=a.bs, seed=a.seed, device='cpu', preset='standard')
    model = create_model('simclr', arch='smallcnn', seed=a.seed)
    return dls, model

def way_learner(dls, model, a):
    "An epoch function for the fastai Learner + SimCLR() callback."
    import torch
    from fastai.learner import Learner
    from fastai.callback.core import CancelValidException, Callback
    from fastai.optimizer import Adam
    import fastai.callback.progress  # Learner.no_bar
    from iclmsr.methods import SimCLR
    from iclmsr.augment import ContrastiveViews
    class NoValid(Callback):
        def before_validate(self): raise CancelValidException()
    aug = Timed(ContrastiveViews(size=32, preset='simclr32'))
    learn = Learner(dls, model, cbs=[SimCLR(aug=aug, tau=0.5), NoValid()], opt_func=Adam, lr=1e-3, wd=0.)
    def epoch():
        aug.t = 0.
        with learn.no_bar(), learn.no_logging(): learn.fit(1)
        return aug.t
    return epoch

def way_bare(dls, model, a):
    "An epoch function for a plain PyTorch loop with our views and loss."
    import torch, numpy as np
    from iclmsr.methods import SimCLR
    from iclmsr.augment import ContrastiveViews
    ds, method = dls.train.dataset, SimCLR(tau=0.5)
    aug = Timed(ContrastiveViews(size=32, preset='simclr32'))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(a.seed)
    def epoch():
        aug.t = 0.
        model.train()
        idx = rng.permutation(len(ds))
        for i in range(0, len(ds) - a.bs + 1, a.bs):
            x, _ = ds.batch(idx[i:i + a.bs])
            views, _ = aug(x)
            loss = method.loss(model(torch.cat(views)), model)
            loss.backward(); opt.step(); opt.zero_grad()
        return aug.t
    return epoch

def way_lightly(dls, model, a):
    "An epoch function for lightly's transform and loss in a plain loop over a torch DataLoader."
    import torch
    from PIL import Image
    from lightly.transforms import SimCLRTransform
    from lightly.loss import NTXentLoss
    images = dls.train.dataset.images  # uint8 (N, H, W, 3)
    tf = SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0.0, normalize=None)  # our Encoder normalises
    class DS(torch.utils.data.Dataset):
        def __len__(self): return len(images)
        def __getitem__(self, i): return tf(Image.fromarray(images[i]))
    g = torch.Generator().manual_seed(a.seed)
    dl = torch.utils.data.DataLoader(DS(), batch_size=a.bs, shuffle=True, drop_last=True, num_workers=a.workers,
                                     generator=g, persistent_workers=a.workers > 0)
    crit = NTXentLoss(temperature=0.5)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    def epoch():
        model.train()
        t_data, it = 0., iter(dl)
        while True:
            t = CLOCK()
            try: x0, x1 = next(it)
            except StopIteration: break
            t_data += CLOCK() - t
            z = model.project(model(torch.cat([x0, x1])))
            loss = crit(*z.chunk(2))
            loss.backward(); opt.step(); opt.zero_grad()
        return t_data
    return epoch

def make(way, dls, model, a): return dict(learner=way_learner, bare=way_bare, lightly=way_lightly)[way](dls, model, a)

def _status(key):
    "A /proc/self/status value in MiB (VmRSS, VmHWM), or None where there is no /proc."
    try: return int(re.search(key + r':\s+(\d+)', open('/proc/self/status').read()).group(1)) / 1024
    except (OSError, AttributeError): return None

def peak_one(way, a):
    "Peak RSS (MiB) during the first epoch of `way` alone, in this fresh process, and its growth over the RSS before it."
    dls, model = build(a)
    f = make(way, dls, model, a)
    try: open('/proc/self/clear_refs', 'w').write('5'); before = _status('VmRSS')  # resets the peak (VmHWM)
    except OSError: before = None
    f()
    if before is None:  # no /proc: max RSS of the whole process
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; return peak, peak
    return _status('VmHWM'), _status('VmHWM') - before

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=2048, help='training images per epoch')
    p.add_argument('--bs', type=int, default=256)
    p.add_argument('--rounds', type=int, default=3, help='timed epochs of each way, interleaved')
    p.add_argument('--workers', type=int, default=0, help="lightly's DataLoader workers")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--clock', choices=['auto', 'cpu', 'wall'], default='auto',
                   help="'cpu': this process's CPU time (steadier on a shared machine); 'auto': cpu with one thread and "
                        "no DataLoader workers (whose time a CPU clock would miss), else wall")
    p.add_argument('--no-memory', action='store_true')
    p.add_argument('--one', help=argparse.SUPPRESS)
    a = p.parse_args()
    import torch
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', 0)) or torch.get_num_threads())
    if a.one:
        peak, grow = peak_one(a.one, a)
        print(json.dumps(dict(peak=peak, grow=grow))); return
    import lightly
    global CLOCK
    cpu_clock = a.clock == 'cpu' or (a.clock == 'auto' and a.workers == 0 and torch.get_num_threads() == 1)
    CLOCK = time.process_time if cpu_clock else time.perf_counter
    print(f"{platform.machine()}, CPU capability {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}, "
          f"lightly {lightly.__version__}, {torch.get_num_threads()} thread(s) (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), fp32")
    dls, model = build(a)
    epochs = {w: make(w, dls, copy.deepcopy(model), a) for w in WAYS}
    for f in epochs.values(): f()  # warm-up epoch
    ts, augs = {w: [] for w in WAYS}, {w: [] for w in WAYS}
    steps = a.n // a.bs
    for r in range(a.rounds):
        for w in WAYS[r % 3:] + WAYS[:r % 3]:
            t = CLOCK(); ta = epochs[w](); ts[w].append(CLOCK() - t); augs[w].append(ta)
    mem = {}
    if not a.no_memory:
        for w in WAYS:
            cmd = [sys.executable, __file__, '--one', w, '--n', str(a.n), '--bs', str(a.bs), '--workers', str(a.workers), '--seed', str(a.seed)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode: sys.exit(f"{w} failed:\n{out.stderr}")
            mem[w] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nSimCLR, small CNN, batch {a.bs}, 32 px, {a.n} images per epoch ({steps} steps), median of {a.rounds} interleaved "
          f"epochs after 1 warm-up, {'process CPU time' if cpu_clock else 'wall time'}; "
          f"lightly DataLoader workers: {a.workers}")
    print(f"{'way':8s} {'images/s':>9s} {'ms/step':>8s} {'x bare':>7s} {'aug ms/step':>12s} {'aug share':>10s} {'peak RSS MiB':>13s} {'growth':>7s}")
    ips = {w: a.n / statistics.median(ts[w]) for w in WAYS}
    for w in WAYS:
        ms = 1000 * statistics.median(ts[w]) / steps
        am = 1000 * statistics.median(augs[w]) / steps
        share = statistics.median(x / t for x, t in zip(augs[w], ts[w]))
        m = f"{mem[w]['peak']:13.0f} {mem[w]['grow']:7.0f}" if w in mem else f"{'-':>13s} {'-':>7s}"
        print(f"{w:8s} {ips[w]:9.0f} {ms:8.0f} {ips[w] / ips['bare']:6.2f}x {am:12.0f} {100 * share:9.0f}% {m}", flush=True)
    print(f"\nlearner / bare {ips['learner'] / ips['bare']:.2f}x (goal >= 0.95x); learner / lightly {ips['learner'] / ips['lightly']:.2f}x (goal >= 1x)")
    if a.workers == 0: print("lightly's 'aug' is the DataLoader's next batch with 0 workers: PIL conversion, transforms, collate.")
    print("Peak RSS: VmHWM of a fresh process during the first epoch of that way alone (reset before it); growth: minus "
          "the RSS before the epoch (data and model already built).")

if __name__ == '__main__': main()
