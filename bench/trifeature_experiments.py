"""The Trifeature experiments of nbs/26_trifeature_experiments.ipynb: SimCLR without and with colour augmentation
(the suppression regime), MCL against a multistage control with random negatives, and HAI on SimCLR and BYOL with
strong colour jitter against its base (section 4), 3 seeds each.

    python bench/trifeature_experiments.py --arms simclr-nocolour simclr-colour --seeds 0 1 2 --shard 0/2 &
    python bench/trifeature_experiments.py --arms simclr-nocolour simclr-colour --seeds 0 1 2 --shard 1/2 &
    python bench/trifeature_experiments.py --arms mcl control --seeds 0 1 2 --shard 0/2 & ...

Every run is trained with `iclmsr.mcl.train_mcl` (one stage is plain SimCLR) and read out with
`iclmsr.benchmarks.trifeature.feature_report` (colour, shape and texture probes, trained on the 5,000 training images,
scored on 1,000 images of the held-out combinations) for each stage alone and for the concatenation, with the NMI of
every stage's k-means clusters (K = 10) with each feature. One JSON file per run in --out
(bench/results/trifeature/); a run already there is skipped. fp32, one torch thread per process.

Section 4's arms (`SECTION4`: names starting with `s4-`) are trained by `run_single`: one fastai `Learner` with the
base method's callback (and `HAI`), on the same random batches for every arm of a seed, and read out also with HAI's
colour-prediction measure (`colour_prediction`) and the NMI of K = 10 k-means clusters with each feature.
"""
from __future__ import annotations
import argparse, json, time
from pathlib import Path
import warnings; warnings.filterwarnings('ignore', message='.*torch.jit.script.*')
import numpy as np, torch
from sklearn.metrics import normalized_mutual_info_score as nmi
from iclmsr.augment import ContrastiveViews
from iclmsr.models import create_model
from iclmsr.mcl import train_mcl, MCLEncoder, stage_features, cluster_features
from iclmsr.methods import create_method
from iclmsr.hai import HAI
from iclmsr.core import seed_everything
from iclmsr.precision import precision_callbacks
from iclmsr.benchmarks.trifeature import TrifeatureDataset, trifeature_dls, feature_report, colour_prediction, FEATURES
from iclmsr.runs import machine
from fastai.learner import Learner
from fastai.optimizer import Adam

BASE = dict(size=32, n_train=5000, n_valid=128, n_test=1000, epochs=16, bs=128, lr=2e-3, wd=1e-5, tau=0.5,
            crop=(0.3, 1.0), clusters=10, precision='fp32', data_seed=0)
ARMS = {  # colour: SimCLR's colour jitter (0.4, 0.4, 0.4, 0.1) (or `jitter`) p 0.8 and grayscale p 0.2; none: neither
    'simclr-nocolour': dict(stages=1, colour=False),
    'simclr-colour':   dict(stages=1, colour=True),
    'simclr-strongcolour': dict(stages=1, colour=True, jitter=(0.8, 0.8, 0.8, 0.2)),  # SimCLR's ImageNet strength
    'mcl':             dict(stages=2, colour=False, feature_aware=True),
    'control':         dict(stages=2, colour=False, feature_aware=False),
}
STRONG = (0.8, 0.8, 0.8, 0.2)  # SimCLR's ImageNet strength, with p 0.8, and grayscale p 0.2
SECTION4 = {  # one Learner per run (HAI is a callback on one encoder); `hai`: None, or HAI's colour embedding on/off
    's4-simclr-none':       dict(method='simclr', colour=False),
    's4-simclr-strong':     dict(method='simclr', colour=True, jitter=STRONG),
    's4-simclr-strong-hai': dict(method='simclr', colour=True, jitter=STRONG, hai=True),
    's4-simclr-strong-hai-noemb': dict(method='simclr', colour=True, jitter=STRONG, hai=False),
    's4-byol-strong':       dict(method='byol', colour=True, jitter=STRONG),
    's4-byol-strong-hai':   dict(method='byol', colour=True, jitter=STRONG, hai=True),
}
ARMS.update(SECTION4)


def views(colour: bool, size: int, crop, jitter=None) -> ContrastiveViews:
    "SimCLR's views for `size` px with crop area `crop`, with or without colour jitter (strengths `jitter`) and grayscale."
    kw = (dict(jitter=tuple(jitter)) if jitter else {}) if colour else dict(jitter_p=0., gray_p=0.)
    return ContrastiveViews(size=size, preset='simclr32', scale=tuple(crop), **kw)


def run(arm: str, seed: int, base: dict = BASE) -> dict:
    "Train one arm with one seed and read it out."
    a, b = ARMS[arm], base
    torch.set_num_threads(1)
    dls = trifeature_dls('shape', b['n_train'], b['n_valid'], b['size'], b['bs'], seed=b['data_seed'], device='cpu')
    train = dls.train_ds
    test = TrifeatureDataset(b['n_test'], b['size'], 'test', b['data_seed'])
    S = a['stages']
    t0, c0 = time.time(), time.process_time()
    enc = train_mcl(dls, make_model=lambda: create_model('simclr', seed=seed), method='simclr', stages=S,
                    clusters=b['clusters'], epochs_per_stage=b['epochs'] // S, lr=b['lr'], wd=b['wd'],
                    precision=b['precision'], seed=seed, feature_aware=a.get('feature_aware', True),
                    method_kwargs=dict(aug=views(a['colour'], b['size'], b['crop'], a.get('jitter')), tau=b['tau']), progress=False)
    train_s, train_cpu = time.time() - t0, time.process_time() - c0
    t1 = time.time()
    feats = [[stage_features(enc.stage(s + 1), d, progress=False) for s in range(S)] for d in (train, test)]
    reps = {f'stage {s + 1}': (feats[0][s], feats[1][s]) for s in range(S)}
    if S > 1: reps['concat'] = tuple(torch.cat(f, 1) / np.sqrt(S) for f in feats)  # = MCLEncoder.embed
    probes = {k: feature_report(None, train, test, feats=v) for k, v in reps.items()}
    untrained = feature_report(create_model('simclr', seed=seed), train, test)
    nmis = [{f: float(nmi(getattr(train, f), h['clusters'])) for f in FEATURES} for h in enc.history]
    return dict(arm=arm, seed=seed, base={k: list(v) if isinstance(v, tuple) else v for k, v in b.items()}, spec=a,
                probes=probes, untrained=untrained, nmi=nmis,
                stages=[dict(stage=h['stage'], epochs=h['epochs'], n_groups=h['n_groups'], merges=h['merges'],
                             group_sizes=h['group_sizes'], losses=h['losses'], train_seconds=round(h['train_seconds'], 1))
                        for h in enc.history],
                train_seconds=round(train_s, 1), train_cpu_seconds=round(train_cpu, 1),
                eval_seconds=round(time.time() - t1, 1), precision=b['precision'], machine=machine(),
                date=time.strftime('%Y-%m-%d %H:%M'))


def run_single(arm: str, seed: int, base: dict = BASE) -> dict:
    "Train one section-4 arm (the base method, with `HAI` when asked) with one seed and read it out."
    a, b = SECTION4[arm], base
    torch.set_num_threads(1)
    dls = trifeature_dls('shape', b['n_train'], b['n_valid'], b['size'], b['bs'], seed=b['data_seed'], device='cpu')
    train, test = dls.train_ds, TrifeatureDataset(b['n_test'], b['size'], 'test', b['data_seed'])
    t0, c0 = time.time(), time.process_time()
    seed_everything(seed)
    model = create_model(a['method'], seed=seed)
    aug = views(a['colour'], b['size'], b['crop'], a.get('jitter'))
    cbs = [create_method(a['method'], aug=aug, **(dict(tau=b['tau']) if a['method'] == 'simclr' else {}))]
    if a.get('hai') is not None:  # every stage's views with the same strengths as the base's (the last stage's are the base's)
        cbs.append(HAI(colour_embedding=a['hai'], scale=tuple(b['crop']), **(dict(jitter=a['jitter']) if a.get('jitter') else {})))
    learn = Learner(dls, model, cbs=cbs + precision_callbacks(b['precision'], 'cpu'), opt_func=Adam, lr=b['lr'], wd=b['wd'])
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(b['epochs'], b['lr'])
    train_s, train_cpu = time.time() - t0, time.process_time() - c0
    t1 = time.time()
    feats = [stage_features(model, d, progress=False) for d in (train, test)]
    probes = {'stage 1': feature_report(None, train, test, feats=tuple(feats))}
    cp = {'stage 1': colour_prediction(model, train.images, test.images)}
    m0 = create_model(a['method'], seed=seed)
    untrained, cp0 = feature_report(m0, train, test), colour_prediction(m0, train.images, test.images)
    cl = cluster_features(feats[0], b['clusters'], seed=seed * 1000)
    return dict(arm=arm, seed=seed, base={k: list(v) if isinstance(v, tuple) else v for k, v in b.items()}, spec=a,
                probes=probes, colour_prediction=cp, untrained=untrained, untrained_colour_prediction=cp0,
                nmi=[{f: float(nmi(getattr(train, f), cl)) for f in FEATURES}],
                losses=[[float(v) for v in r[:2]] for r in learn.recorder.values],
                train_seconds=round(train_s, 1), train_cpu_seconds=round(train_cpu, 1),
                eval_seconds=round(time.time() - t1, 1), precision=b['precision'], machine=machine(),
                date=time.strftime('%Y-%m-%d %H:%M'))


if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('--arms', nargs='+', default=list(ARMS), choices=list(ARMS))
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--shard', default='0/1', help='i/n: run every n-th run starting at the i-th')
    p.add_argument('--out', default='bench/results/trifeature')
    a = p.parse_args()
    i, n = map(int, a.shard.split('/'))
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    todo = [(arm, s) for arm in a.arms for s in a.seeds]
    for arm, s in todo[i::n]:
        f = out/f'{arm}-seed{s}.json'
        if f.exists(): print(f'{f} exists, skipped', flush=True); continue
        r = (run_single if arm in SECTION4 else run)(arm, s)
        f.write_text(json.dumps(r, indent=1) + '\n')
        print(f"{arm} seed {s}: train {r['train_seconds']:.0f} s (cpu {r['train_cpu_seconds']:.0f} s) | " +
              ' | '.join(f"{k}: " + ', '.join(f"{ft} {v[ft]:.3f}" for ft in FEATURES) for k, v in r['probes'].items()) +
              ' | nmi ' + '; '.join(', '.join(f"{ft} {v:.2f}" for ft, v in q.items()) for q in r['nmi']) +
              (f" | colour prediction {r['colour_prediction']['stage 1']:.3f} (untrained {r['untrained_colour_prediction']:.3f})"
               if 'colour_prediction' in r else ''), flush=True)
