"""Resume after a kill ends bit-identical for every stateful callback: ICL-MSR (f_msr, its optimizer, history), MoCo v2
(queue and target), BYOL (target) and HAI (branches, their targets and queues). In-process and small: the run is
"killed" right after its epoch-0 checkpoint (an exception no callback catches), then resumed with `resume=True`."""
import pytest, torch
import iclmsr.runs as runs

BASE = dict(epochs=2, n_train=128, n_valid=64, bs=64, seed=4, precision='fp32')
CASES = {'simclr+iclmsr': dict(iclmsr=True, every=1), 'mocov2': dict(method='mocov2'), 'byol': dict(method='byol'),
         'mocov2+hai': dict(method='mocov2', hai=True), 'byol+hai': dict(method='byol', hai=True)}

@pytest.fixture(autouse=True)
def no_leftover_autocast():
    "A fit that raised inside bf16 autocast (tests of bad inputs in this process) leaves autocast entered: these runs are fp32."
    torch.set_autocast_enabled('cpu', False)
    yield

class Killed(BaseException): "Stands for a kill: not an `Exception`, so fastai and `pretrain` let it through."

def same(a, b, where='state'):
    "Assert that the nested checkpoint contents `a` and `b` are equal, tensors bit for bit."
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a: same(a[k], b[k], f'{where}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)): same(x, y, f'{where}[{i}]')
    elif torch.is_tensor(a): assert a.shape == b.shape and torch.equal(a, b), where
    elif a == a: assert a == b, where  # (NaN aside)

@pytest.mark.parametrize('case', list(CASES))
def test_resume_after_kill_is_bit_identical(tmp_path, monkeypatch, case):
    monkeypatch.setenv('ICLMSR_CACHE', str(tmp_path/'cache'))
    cfg = {**BASE, **CASES[case]}
    runs.pretrain(cfg, tmp_path/'full', progress=False, device='cpu')
    after_epoch = runs.Checkpoint.after_epoch
    def killed_after_epoch_0(self):
        after_epoch(self)
        if self.epoch == 0: raise Killed()
    monkeypatch.setattr(runs.Checkpoint, 'after_epoch', killed_after_epoch_0)
    with pytest.raises(Killed): runs.pretrain(cfg, tmp_path/'cut', progress=False, device='cpu')
    assert torch.load(tmp_path/'cut'/'last.pt', weights_only=False)['epoch'] == 0 and not (tmp_path/'cut'/'encoder.pt').exists()
    monkeypatch.setattr(runs.Checkpoint, 'after_epoch', after_epoch)
    runs.pretrain(cfg, tmp_path/'cut', resume=True, progress=False, device='cpu')
    full, cut = (torch.load(tmp_path/r/'last.pt', weights_only=False)['state'] for r in ('full', 'cut'))
    keys = {'simclr+iclmsr': {'iclmsr'}, 'mocov2': {'queue', 'target'}, 'byol': {'target'}}.get(case, {'hai'})
    assert keys <= set(full) | set(full['method']), (case, full.keys())       # the callback's own state is in the checkpoint
    same(full, cut)                                                              # model, optimizer and every callback's state
    same(*(torch.load(tmp_path/r/'encoder.pt', weights_only=False)['model'] for r in ('full', 'cut')))

def test_multistage_resume_after_kill_is_bit_identical(tmp_path, monkeypatch):
    "MCL resumes at its first unfinished stage: killed right after stage 1's checkpoint, `resume=True` ends with the same weights."
    monkeypatch.setenv('ICLMSR_CACHE', str(tmp_path/'cache'))
    cfg = {**BASE, 'stages': 2, 'clusters': 3}
    runs.pretrain(cfg, tmp_path/'full', progress=False, device='cpu')
    save = runs.atomic_save
    def killed_after_stage_1(obj, path):
        save(obj, path)
        if path.name == 'last.pt': raise Killed()
    monkeypatch.setattr(runs, 'atomic_save', killed_after_stage_1)
    with pytest.raises(Killed): runs.pretrain(cfg, tmp_path/'cut', progress=False, device='cpu')
    st = torch.load(tmp_path/'cut'/'last.pt', weights_only=False)
    assert st['mcl']['stages_done'] == 1 and st['epoch'] == 0 and not (tmp_path/'cut'/'encoder.pt').exists()
    monkeypatch.setattr(runs, 'atomic_save', save)
    runs.pretrain(cfg, tmp_path/'cut', resume=True, progress=False, device='cpu')
    same(*(torch.load(tmp_path/r/'encoder.pt', weights_only=False)['model'] for r in ('full', 'cut')))
    labels = [torch.load(tmp_path/r/'last.pt', weights_only=False)['mcl']['pseudo_labels'] for r in ('full', 'cut')]
    assert (labels[0] == labels[1]).all()                                        # the same clusters after stage 2
    assert [m['stage'] for m in __import__('json').loads((tmp_path/'cut'/'metrics.json').read_text())] == [1, 2]
