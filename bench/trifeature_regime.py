"""The regime map of the Trifeature benchmark: can a supervised small CNN learn each feature (colour, shape, texture)
from the images and epochs the experiments use, and generalise to held-out (shape, texture, colour) combinations?

    python bench/trifeature_regime.py --size 32 --n-train 5000 --epochs 16 --features shape texture colour

One run per feature: the smallcnn encoder, global average pooling and a linear layer, trained with labels (cross
entropy, Adam, one-cycle; --shift N: every training image translated by up to N pixels, reflect padding, drawn per
image) on the training combinations, scored on `--n-test` images of the held-out
combinations. fp32, one torch thread. Every run is appended to --out (default bench/results/trifeature_regime.json),
replacing an earlier run with the same settings; nbs/09b_trifeature.ipynb reads that file.
"""
from __future__ import annotations
import argparse, json, time
from pathlib import Path
import warnings; warnings.filterwarnings('ignore', message='.*torch.jit.script.*')
import torch, torch.nn as nn, torch.nn.functional as F
from fastai.callback.core import Callback
from fastai.learner import Learner
from fastai.metrics import accuracy
from fastai.optimizer import Adam
import fastai.callback.schedule  # fit_one_cycle
from iclmsr.core import seed_everything
from iclmsr.models import create_encoder
from iclmsr.benchmarks.trifeature import trifeature_dls
from iclmsr.runs import machine
from regime_map import shift_batch  # the confounded regime map's translation (bench/ is this script's folder)


class Shift(Callback):
    "Translate the training images by up to `pad` pixels (`shift_batch`)."
    def __init__(self, pad: int, seed: int = 0): self.pad, self.g = pad, torch.Generator().manual_seed(seed)
    def before_batch(self):
        if self.training: self.learn.xb = (shift_batch(self.xb[0], self.g, self.pad),)


def supervised(feature: str, size: int = 32, n_train: int = 5000, n_test: int = 1000, epochs: int = 16, bs: int = 128,
               lr: float = 2e-3, seed: int = 0, period: float | None = None, shift: int = 0) -> dict:
    "Train the small CNN with `feature`'s labels; accuracy on the held-out combinations."
    seed_everything(seed)
    dls = trifeature_dls(feature, n_train, n_test, size, bs, seed=0, device='cpu', period=period)
    enc = create_encoder('smallcnn', seed=seed)
    net = nn.Sequential(enc, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(enc.num_features, 10))
    learn = Learner(dls, net, loss_func=nn.CrossEntropyLoss(), metrics=accuracy, opt_func=Adam,
                    cbs=[Shift(shift, seed)] if shift else [])
    t = time.time()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr)
    secs = time.time() - t
    vl, acc = learn.validate()
    return dict(feature=feature, size=size, period=dls.train_ds.period, n_train=n_train, n_test=n_test, epochs=epochs, bs=bs,
                lr=lr, seed=seed, shift=shift, test_acc=float(acc), seconds=round(secs, 1),
                valid_loss_acc=[round(float(vl), 4), round(float(acc), 4)], precision='fp32',
                machine=machine(), date=time.strftime('%Y-%m-%d %H:%M'))


if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('--size', type=int, default=32)
    p.add_argument('--n-train', type=int, default=5000)
    p.add_argument('--n-test', type=int, default=1000)
    p.add_argument('--epochs', type=int, default=16)
    p.add_argument('--bs', type=int, default=128)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--period', type=float, default=None)
    p.add_argument('--shift', type=int, default=0, help='translate training images by up to this many pixels')
    p.add_argument('--features', nargs='+', default=['shape', 'texture', 'colour'])
    p.add_argument('--out', default='bench/results/trifeature_regime.json')
    a = p.parse_args()
    torch.set_num_threads(1)
    out = Path(a.out)
    for f in a.features:
        r = supervised(f, a.size, a.n_train, a.n_test, a.epochs, a.bs, seed=a.seed, period=a.period, shift=a.shift)
        print(f"{f:8s} size {a.size} period {r['period']:g} n {a.n_train} epochs {a.epochs} shift {a.shift}: held-out accuracy "
              f"{r['test_acc']:.3f} ({r['seconds']:.0f} s)", flush=True)
        rows = json.loads(out.read_text()) if out.exists() else []
        key = lambda q: tuple(q.get(k, 0) for k in ('feature', 'size', 'period', 'n_train', 'n_test', 'epochs', 'bs', 'lr', 'seed', 'shift'))
        rows = [q for q in rows if key(q) != key(r)] + [r]
        out.write_text(json.dumps(rows, indent=1) + '\n')
