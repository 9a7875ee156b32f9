"""The regime map of the confounded benchmark: for each difficulty point, how well a supervised small CNN can learn the
object (the ceiling), and what SimCLR learns at a given budget (the object, the background, the shortcut).

    python bench/regime_map.py --sources digits fashion --contrast 0.25 0.5 1 --scale 0.5,0.9 0.7,1 --epochs 15
    python bench/regime_map.py --supervised-only ...        # the ceiling alone (about 30 s a point)
    python bench/regime_map.py ... --shard 0/2 & python bench/regime_map.py ... --shard 1/2 & wait   # two processes

Every run is cached as one JSON file in --out (default runs/regime); a run already there is read, not retrained, so
the same command prints the table again at no cost. --save appends the table's rows to a JSON file (the data notebook
reads bench/results/regime_map.json). Everything is fp32 (the rows are accuracies; the wall times are for the machine
printed with them).
"""
from __future__ import annotations
import argparse, hashlib, itertools, json, time
from pathlib import Path
import warnings; warnings.filterwarnings('ignore', message='.*torch.jit.script.*')
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F

from iclmsr.core import seed_everything, check_arg
from iclmsr.data import ConfoundedDataset, confounded_dls, difficulty
from iclmsr.models import create_encoder, create_model
from iclmsr.augment import ContrastiveViews
from iclmsr.methods import SimCLR
from iclmsr.eval import background_report
from iclmsr.runs import machine  # cores, CPU capability, threads, GPU: stored with every run
from fastai.learner import Learner
from fastai.optimizer import Adam
import fastai.callback.schedule  # fit_one_cycle


def data_kwargs(p: dict) -> dict:
    return dict(preset=p['preset'], contrast=p['contrast'], scale=p['scale'], polarity=p['polarity'], shading=p['shading'])


def shift_batch(x: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    "Random translation by up to `pad` pixels, drawn per image (reflect padding)."
    B, _, H, W = x.shape
    xp = F.pad(x, (pad,) * 4, mode='reflect')
    dy, dx = torch.randint(0, 2 * pad + 1, (2, B), generator=g)
    rows = (dy[:, None] + torch.arange(H))[:, None, :, None].expand(B, 3, H, W + 2 * pad)
    xp = xp.gather(2, rows)
    cols = (dx[:, None] + torch.arange(W))[:, None, None, :].expand(B, 3, H, W)
    return xp.gather(3, cols)


def supervised_ceiling(p: dict, seed: int = 0, epochs: int = 12, n_train: int = 5000, n_test: int = 2000, bs: int = 256,
                       lr: float = 2e-3) -> dict:
    "The small CNN trained with labels at rho = 0 (AdamW, one-cycle, random translation); accuracy on `test_rho0`."
    seed_everything(seed)
    kw = data_kwargs(p)
    tr = ConfoundedDataset(p['source'], n_train, 32, 0.0, 'train', seed, **kw)
    te = ConfoundedDataset(p['source'], n_test, 32, 0.0, 'test_rho0', seed + 1, **kw)
    enc = create_encoder('smallcnn')
    net = nn.Sequential(enc, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(enc.num_features, len(tr.classes)))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (n_train // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(n_train, generator=g)
        for i in range(n_train // bs):
            x, y = tr.batch(perm[i * bs:(i + 1) * bs].numpy())
            loss = F.cross_entropy(net(shift_batch(x, g)), y)
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    net.eval()
    with torch.no_grad():
        correct = sum((net(te.batch(np.arange(i, min(i + 500, n_test)))[0]).argmax(1) ==
                       torch.as_tensor(te.labels[i:i + 500])).sum().item() for i in range(0, n_test, 500))
    return dict(supervised_rho0=correct / n_test, train_loss=loss.item(), seconds=round(time.time() - t0, 1))


def simclr_run(p: dict, seed: int = 0, epochs: int = 15, n_train: int = 5000, n_eval: int = 1000, bs: int = 256,
               lr: float = 2e-3, tau: float = 0.5, crop_min: float = 0.08, rho: float = 0.9) -> dict:
    "SimCLR (Learner + SimCLR callback, small CNN, fp32) on the confounded data; `background_report` of the encoder."
    kw = data_kwargs(p)
    seed_everything(seed)
    dls = confounded_dls(p['source'], n_train=n_train, n_valid=256, rho=rho, bs=bs, seed=seed, device='cpu', **kw)
    model = create_model('simclr', arch='smallcnn', seed=seed)
    learn = Learner(dls, model, cbs=[SimCLR(tau=tau, aug=ContrastiveViews(32, scale=(crop_min, 1.)))], opt_func=Adam,
                    lr=lr, wd=1e-5)
    t0 = time.time()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr)
    secs = time.time() - t0
    splits = dict(train=dls.train_ds, **{s: ConfoundedDataset(p['source'], n_eval, 32, rho, s, seed + 1, **kw)
                                          for s in ('test', 'test_rho0', 'swapped')})
    rep = background_report(model, splits, protocols=('confounded', 'unconfounded', 'background'), progress=False, seed=seed)
    keep = ('unconfounded_rho0', 'unconfounded_swapped', 'bg_decodability', 'bg_decodability_chance', 'confounded_test',
            'confounded_swapped', 'confounded_test_rho0', 'background_reliance')
    out = {k: float(rep[k]) for k in keep if k in rep}
    out.update(seconds=round(secs, 1), images_per_s=round(epochs * (n_train // bs) * bs / secs, 1))
    return out


def run_point(p: dict, kind: str, opts: dict, out: Path, seed: int) -> dict:
    key = dict(point=p, kind=kind, opts=opts, seed=seed, v=1)
    h = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    f = out / f"{kind}-{p['source']}-{h}.json"
    if f.exists(): return json.loads(f.read_text())
    res = (supervised_ceiling(p, seed=seed, **opts) if kind == 'supervised' else simclr_run(p, seed=seed, **opts))
    r = dict(key, result=res, machine=machine(), date=time.strftime('%Y-%m-%d %H:%M'))
    f.write_text(json.dumps(r, indent=1))
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sources', nargs='+', default=['digits'])
    ap.add_argument('--preset', default='standard', help="the difficulty preset the other values override")
    ap.add_argument('--contrast', nargs='+', type=float, default=[None])
    ap.add_argument('--scale', nargs='+', default=[None], help="lo,hi pairs, e.g. 0.7,1")
    ap.add_argument('--polarity', nargs='+', default=[None], choices=['true', 'false', None])
    ap.add_argument('--shading', nargs='+', type=float, default=[None])
    ap.add_argument('--epochs', nargs='+', type=int, default=[15], help='SimCLR budgets (epochs on 5,000 images)')
    ap.add_argument('--tau', nargs='+', type=float, default=[0.5])
    ap.add_argument('--crop-min', nargs='+', type=float, default=[0.08])
    ap.add_argument('--lr', nargs='+', type=float, default=[2e-3])
    ap.add_argument('--bs', nargs='+', type=int, default=[256])
    ap.add_argument('--seeds', nargs='+', type=int, default=[0])
    ap.add_argument('--supervised-only', action='store_true')
    ap.add_argument('--no-supervised', action='store_true')
    ap.add_argument('--shard', default='0/1', help='i/n: run every n-th job starting at i (parallel processes)')
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--out', default='runs/regime')
    ap.add_argument('--save', default=None, help='merge the rows into this JSON file (e.g. bench/results/regime_map.json)')
    ap.add_argument('--collect', action='store_true', help='train nothing: merge every run cached in --out into --save')
    a = ap.parse_args(argv)
    if a.collect:
        check_arg(a.save is not None, 'save', 'a JSON file to merge the cached runs into (with --collect)', a.save)
        return save_rows([json.loads(f.read_text()) for f in sorted(Path(a.out).glob('*.json'))], a.save)
    if a.threads: torch.set_num_threads(a.threads)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    i, n = map(int, a.shard.split('/'))
    points = []
    for src, c, sc, pol, sh in itertools.product(a.sources, a.contrast, a.scale, a.polarity, a.shading):
        d = difficulty(a.preset, contrast=c, scale=None if sc is None else tuple(map(float, sc.split(','))),
                       polarity=None if pol is None else pol == 'true', shading=sh)
        d.pop('families')
        points.append(dict(source=src, preset=a.preset, **d))
    jobs = []
    for p in points:
        for s in a.seeds:
            if not a.no_supervised: jobs.append((p, 'supervised', {}, s))
            if not a.supervised_only:
                for e, t, cm, lr, bs in itertools.product(a.epochs, a.tau, a.crop_min, a.lr, a.bs):
                    jobs.append((p, 'simclr', dict(epochs=e, tau=t, crop_min=cm, lr=lr, bs=bs), s))
    print(f"{len(jobs)} runs, this process {len(jobs[i::n])} ({machine()})", flush=True)
    rows = []
    for j, (p, kind, opts, s) in enumerate(jobs):
        if j % n != i: continue
        t0 = time.time()
        r = run_point(p, kind, opts, out, s)
        rows.append(r)
        print(f"[{time.time() - t0:6.1f} s] {kind:10s} {p['source']:7s} contrast {p['contrast']:.2f} scale {p['scale']} "
              f"polarity {p['polarity']!s:5s} shading {p['shading']:.1f} {opts} seed {s}: "
              + ', '.join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in r['result'].items()), flush=True)
    if a.save: save_rows(rows, a.save)


def save_rows(rows: list, path: str):
    "Merge `rows` into the JSON list at `path` (a row replaces the one with the same point, kind, options and seed)."
    f = Path(path); f.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(f.read_text()) if f.exists() else []
    keyf = lambda r: json.dumps(dict(point=r['point'], kind=r['kind'], opts=r['opts'], seed=r['seed']), sort_keys=True)
    merged = {keyf(r): r for r in old}
    merged.update({keyf(r): r for r in rows})
    f.write_text(json.dumps(sorted(merged.values(), key=keyf), indent=1))
    print(f"saved {len(rows)} rows to {f} ({len(merged)} in all)")


if __name__ == '__main__':
    main()
