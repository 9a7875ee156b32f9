"""Data-parallel training on 2 processes over gloo, spawned here with torch.multiprocessing: gathered negatives,
DDP gradients, ICL-MSR's f_msr across ranks, MCL's pseudo-labels, and `torchrun ... iclmsr.cli pretrain` with --resume."""
import os, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest, torch
import torch.multiprocessing as mp

WORLD = 2

def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _entry(r, fn, port, out, args):
    "One spawned rank: the torchrun environment, one thread, the process group, then `fn(out, *args)`."
    os.environ.update(RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(WORLD), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      OMP_NUM_THREADS='1')
    torch.set_num_threads(1)
    from iclmsr.distributed import distributed
    with distributed('gloo', timeout_s=300):
        res = fn(*args)
    torch.save(res, Path(out)/f'rank{r}.pt')

def spawn(fn, tmp_path, *args) -> list:
    "Run `fn(*args)` on 2 gloo ranks; returns what each rank returned, in rank order."
    mp.spawn(_entry, args=(fn, free_port(), str(tmp_path), args), nprocs=WORLD, join=True)
    return [torch.load(tmp_path/f'rank{r}.pt', weights_only=False) for r in range(WORLD)]

# ---------------------------------------------------------------- SimCLR with gathered negatives

B = 6

def _simclr_setup():
    from iclmsr.models import create_model
    from iclmsr.methods import SimCLR
    torch.manual_seed(0)
    x = torch.rand(WORLD * B, 3, 16, 16, dtype=torch.float64)   # the global batch
    v1, v2 = x, (x.flip(-1) * 0.8 + 0.1)                          # two fixed "views"
    model = create_model('simclr', seed=0, hidden_dim=32, out_dim=16).double().eval()  # eval: batch norm per sample
    return model, SimCLR(tau=0.5), v1, v2

def _grads(model): return {k: p.grad.detach().clone() for k, p in model.named_parameters()}

class _CutGather(torch.autograd.Function):
    "A plain all_gather: the other ranks' rows are constants, only this rank's own rows keep their gradient."
    @staticmethod
    def forward(ctx, x):
        out = [torch.empty_like(x) for _ in range(WORLD)]
        torch.distributed.all_gather(out, x.contiguous())
        return tuple(out)
    @staticmethod
    def backward(ctx, *g): return g[torch.distributed.get_rank()]

def _simclr_rank():
    "Loss and DDP gradients on this rank's shard, with `gather` and then with a gradient-cutting gather."
    import iclmsr.distributed as D
    from torch.nn.parallel import DistributedDataParallel
    res = []
    for gather_fn in (D._Gather, _CutGather):
        D._Gather = gather_fn
        model, method, v1, v2 = _simclr_setup()
        r = D.rank()
        xv = torch.cat([v1[r * B:(r + 1) * B], v2[r * B:(r + 1) * B]])  # this rank's shard, views laid out as one process
        ddp = DistributedDataParallel(model)
        loss = method.loss(ddp(xv), model)  # the heads run outside DDP's forward: their gradients are all-reduced all the same
        loss.backward()
        res.append((loss.item(), _grads(model)))
    return res

def _simclr_single():
    model, method, v1, v2 = _simclr_setup()
    loss = method.loss(model(torch.cat([v1, v2])), model)
    loss.backward()
    return loss.item(), _grads(model)

def _max_rel(g, ref): return max(((g[k] - ref[k]).norm() / ref[k].norm().clamp_min(1e-30)).item() for k in ref)

def test_simclr_gathered_equals_one_process(tmp_path):
    ref_loss, ref = _simclr_single()
    for (loss, g), (loss_cut, g_cut) in spawn(_simclr_rank, tmp_path):
        assert abs(loss - ref_loss) <= 1e-5 * abs(ref_loss)  # every rank computes the loss of the global batch
        assert _max_rel(g, ref) < 1e-5, _max_rel(g, ref)     # and DDP's averaged gradients are the global batch's
        assert loss_cut == loss                               # a gradient-cutting gather: the same loss value...
        assert _max_rel(g_cut, ref) > 0.05, _max_rel(g_cut, ref)  # ...and a measurably different gradient
        print(f"max relative gradient error: gather {_max_rel(g, ref):.1e}, cutting gather {_max_rel(g_cut, ref):.2f}")

# ---------------------------------------------------------------- torchrun ... iclmsr.cli pretrain

CLI_ARGS = ['--n-train', '256', '--n-valid', '64', '--bs', '16', '--seed', '3', '--no-progress']

@pytest.fixture(scope='module')
def env(tmp_path_factory):
    return dict(os.environ, ICLMSR_CACHE=str(tmp_path_factory.mktemp('cache')), OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')

def torchrun(*args):
    return [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(WORLD),
            '-m', 'iclmsr.cli', 'pretrain', *args]

def _weights(run): return torch.load(Path(run)/'encoder.pt', weights_only=False, map_location='cpu')['model']

@pytest.mark.slow
def test_torchrun_pretrain_writes_one_checkpoint(tmp_path, env):
    run = tmp_path/'run'
    r = subprocess.run(torchrun('--epochs', '1', *CLI_ARGS, '--out', str(run)), env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in run.iterdir()) == ['config.json', 'encoder.pt', 'last.pt', 'metrics.csv', 'metrics.json']
    import json
    metrics = json.loads((run/'metrics.json').read_text())
    assert len(metrics) == 1 and metrics[0]['epoch'] == 0       # one epoch, one row, written once
    assert r.stdout.count('"train_loss"') == 1                   # rank 0 alone prints the result
    w, last = _weights(run), torch.load(run/'last.pt', weights_only=False, map_location='cpu')
    assert last['epoch'] == 0 and not any(k.startswith('module.') for k in w)  # the plain model, not the DDP wrapper
    assert all(torch.equal(w[k], last['state']['model'][k]) for k in w)

def _children(pid):
    "Pids of the processes whose parent is `pid` (torchrun's workers run in sessions of their own)."
    out = []
    for d in Path('/proc').iterdir():
        if d.name.isdigit():
            try: stat = (d/'stat').read_text()
            except OSError: continue
            if int(stat.rsplit(')', 1)[1].split()[1]) == pid: out.append(int(d.name))
    return out

@pytest.mark.slow
def test_torchrun_resume_after_kill_matches_uninterrupted(tmp_path, env):
    full, cut = tmp_path/'full', tmp_path/'cut'
    args = ['--epochs', '3', '--iclmsr', '--every', '2', *CLI_ARGS]
    r = subprocess.run(torchrun(*args, '--out', str(full)), env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    p = subprocess.Popen(torchrun(*args, '--out', str(cut)), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not (cut/'metrics.json').exists() and time.time() - t0 < 600: time.sleep(0.05)  # epoch 0 saved...
    workers = _children(p.pid)
    for pid in workers: os.kill(pid, signal.SIGKILL)                                  # ...and both ranks die in epoch 1
    p.kill(); p.wait()
    assert len(workers) == WORLD and not (cut/'encoder.pt').exists(), 'the run was not killed mid-training'
    assert torch.load(cut/'last.pt', weights_only=False, map_location='cpu')['epoch'] < 2
    r = subprocess.run(torchrun(*args, '--out', str(cut), '--resume'), env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = _weights(full), _weights(cut)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), 'resumed run differs from the uninterrupted one'
    ea = torch.load(full/'encoder.pt', weights_only=False)['msr']; eb = torch.load(cut/'encoder.pt', weights_only=False)['msr']
    assert all(torch.equal(ea[k], eb[k]) for k in ea)  # f_msr too

# ---------------------------------------------------------------- MCL on 2 ranks

def _mcl_rank():
    import numpy as np
    from iclmsr.data import ImageArrayDataset, array_dls
    from iclmsr.models import create_model
    from iclmsr.mcl import train_mcl
    from iclmsr.distributed import rank
    g = np.random.default_rng(0)   # the same images on every rank
    base = g.integers(0, 256, (4, 1, 1, 3))
    imgs = np.clip(base[np.arange(96) % 4] + g.integers(-40, 40, (96, 16, 16, 3)), 0, 255).astype(np.uint8)
    ds = ImageArrayDataset(imgs, np.arange(96) % 4, list('abcd'))
    dls = array_dls(ds, ImageArrayDataset(imgs[:16], np.arange(16) % 4, list('abcd')), bs=8, seed=0, device='cpu')
    enc = train_mcl(dls, make_model=lambda: create_model('simclr', seed=0, hidden_dim=32, out_dim=16), stages=2, clusters=3,
                    epochs_per_stage=1, precision='fp32', seed=0, progress=False)
    h = enc.history[1]
    return dict(labels=enc.pseudo_labels, batches=h['batches'], coverage=h['coverage'], n_groups=h['n_groups'],
                weights={k: v.clone() for k, v in enc.state_dict().items()}, rank=rank())

@pytest.mark.slow
def test_mcl_two_ranks_same_pseudo_labels(tmp_path):
    r0, r1 = spawn(_mcl_rank, tmp_path)
    assert (r0['rank'], r1['rank']) == (0, 1)
    assert len(r0['labels']) == 96 and (r0['labels'] == r1['labels']).all()   # identical pseudo-labels on both ranks
    assert len(set(r0['labels'].tolist())) > 1                               # and more than one group
    assert r0['batches'] == r1['batches'] and r0['coverage'] == r1['coverage']
    assert all(torch.equal(r0['weights'][k], r1['weights'][k]) for k in r0['weights'] if not k.endswith(('running_mean', 'running_var')))

# ---------------------------------------------------------------- SimCLR + ICL-MSR on 2 ranks

class FixedViews(torch.nn.Module):
    "Deterministic views (the image and its mirror), so that 2 ranks and 1 process see the same views."
    def forward(self, x): return [x, x.flip(-1)], None

def _no_bn(model):
    "The model with its batch norms replaced by identities: per-sample computations, whatever the batch's split."
    for m in list(model.modules()):
        for cn, c in list(m.named_children()):
            if isinstance(c, torch.nn.modules.batchnorm._BatchNorm): setattr(m, cn, torch.nn.Identity())
    return model

N_IMG, B_RANK = 24, 4   # 3 steps of a global batch of 8

def _iclmsr_run(mode, bs):
    "SimCLR + ICL-MSR (`mode`) for one epoch of fixed views; DDPTrainer shards when distributed. Returns the weights."
    from fastai.learner import Learner
    from fastai.optimizer import Adam
    import fastai.callback.progress  # Learner.no_bar
    from iclmsr.core import seed_everything
    from iclmsr.models import create_model
    from iclmsr.methods import SimCLR
    from iclmsr.testing import synthetic_dls
    from iclmsr.meta import ICLMSR
    from iclmsr.msr import MetaSemanticRegularizer
    from iclmsr.distributed import DDPTrainer, world_size
    from fastcore.basics import defaults
    defaults.cpus = 0  # no loader worker processes (each would import torch again)
    seed_everything(0)
    dls = synthetic_dls(n=N_IMG, bs=bs, size=16, n_classes=N_IMG)
    model = _no_bn(create_model('simclr', seed=0, hidden_dim=32, out_dim=16))
    icl = ICLMSR(n=2, mode=mode, every=1, lam=0.5, alpha=0.5, msr=MetaSemanticRegularizer(model.num_features, n=2, width=8, seed=0))
    learn = Learner(dls, model, cbs=[SimCLR(aug=FixedViews()), icl, DDPTrainer()], opt_func=Adam, lr=1e-3)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert len(icl.history) == N_IMG // (bs * world_size())  # one meta step per (global) batch
    return ({k: v.detach().clone() for k, v in model.named_parameters()},
            {k: v.detach().clone() for k, v in icl.msr.named_parameters()})

def _iclmsr_rank():
    return {mode: _iclmsr_run(mode, B_RANK) for mode in ('first_order', 'exact')}

def _max_abs(a, b): return max((a[k] - b[k]).abs().max().item() for k in a)

@pytest.mark.slow
def test_iclmsr_two_ranks_identical_and_first_order_matches_one_process(tmp_path):
    r0, r1 = spawn(_iclmsr_rank, tmp_path)
    for mode in ('first_order', 'exact'):
        for part in (0, 1):  # the model, f_msr
            a, b = r0[mode][part], r1[mode][part]
            assert all(torch.equal(a[k], b[k]) for k in a), (mode, part)   # bit-identical on both ranks
    model, msr = _iclmsr_run('first_order', WORLD * B_RANK)                   # one process, the same global batches
    dm, df = _max_abs(r0['first_order'][0], model), _max_abs(r0['first_order'][1], msr)
    print(f"first-order, 2 ranks vs 1 process, max |difference|: model {dm:.1e}, f_msr {df:.1e}")
    # Without batch norm the two runs do the same arithmetic up to the order of fp32 sums (DDP averages two half-batch
    # gradients where one process sums one batch): ~1e-7 relative in the gradients, and Adam moves a weight by at most
    # ~lr = 1e-3 per step, so 3 steps differ by ~1e-7 (measured: 1.1e-7 model, 7.5e-8 f_msr). 1e-6 leaves a 10x margin
    # and still fails for a real mistake (local negatives, f_msr gradients not averaged: differences of ~lr = 1e-3).
    assert dm < 1e-6 and df < 1e-6

@pytest.mark.slow
def test_demo_refuses_several_processes(tmp_path, env):
    "The demo is a one-process job: under torchrun's environment it says so, exit status 2, no traceback."
    e = dict(env, RANK='0', LOCAL_RANK='0', WORLD_SIZE='2', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    r = subprocess.run([sys.executable, '-m', 'iclmsr.cli', 'demo', '--out', str(tmp_path)], env=e, capture_output=True, text=True)
    assert r.returncode == 2 and '`demo`' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
