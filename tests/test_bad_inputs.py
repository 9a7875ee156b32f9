"""The bad-input corpus: a table of inputs a user may get wrong, each with its entry point (Python API or the `iclmsr`
command) and the outcome it must have. An error is one line that names the argument or the file, exit status 2 on the
command line, no traceback, and nothing written or overwritten; a few odd but valid inputs must work, converted.
The summary line (`bad-input corpus: N cases, M pass`) is printed at the end."""
import contextlib, io, json, math, os, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image

os.environ.setdefault('OMP_NUM_THREADS', '1')
torch.set_num_threads(1)
from iclmsr.data import image_folder_dls, torchvision_dls, confounded_dls, ImageArrayDataset, array_dls
from iclmsr.augment import ContrastiveViews
from iclmsr.models import create_model
from iclmsr.msr import MetaSemanticRegularizer
from iclmsr.methods import SimCLR, MoCoV2, BYOL, BarlowTwins, create_method
from iclmsr.testing import synthetic_dls
from iclmsr.meta import ICLMSR
from iclmsr.mcl import train_mcl
from iclmsr.cli import main
from iclmsr.runs import pretrain, evaluate
from iclmsr.config import check_config
from iclmsr.eval import extract_features, linear_probe, knn_accuracy, fit_linear_probe
from fastai.learner import Learner
import fastai.callback.progress

ERRORS = (ValueError, TypeError, OSError)
TINY = ['--epochs', '1', '--n-train', '64', '--n-valid', '32', '--bs', '32', '--size', '16', '--no-progress']
TINY_FOLDER = ['--epochs', '1', '--bs', '4', '--size', '16', '--no-progress']  # a folder's images are all used: no --n-train

# ---------------------------------------------------------------- the workspace the cases use
def png_bytes(a):
    b = io.BytesIO(); Image.fromarray(a).save(b, 'png'); return b.getvalue()

def jpg_bytes():
    b = io.BytesIO(); Image.fromarray((np.arange(3072) % 251).astype(np.uint8).reshape(32, 32, 3)).save(b, 'jpeg'); return b.getvalue()

class Workspace:
    "Paths and tiny fixtures the cases need, made once, lazily."
    def __init__(self, root:Path):
        self.root = root
        self._run = None

    def folder(self, name, **extra):
        "An image folder `name`: classes a and b with three 12 px RGB images each, plus `extra` (path -> PIL image, bytes or None: a folder)."
        f = self.root/'folders'/name
        if f.exists(): return f
        for c in 'ab':
            (f/c).mkdir(parents=True)
            for i in range(3): Image.fromarray(np.full((12, 12, 3), 30 + 80 * i, np.uint8)).save(f/c/f"{i}.png")
        for k, v in extra.items():
            p = f/k
            if v is None: p.mkdir(parents=True); continue
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(v, bytes): p.write_bytes(v)
            elif callable(v): v(p)
            else: v.save(p)
        return f

    @property
    def run(self) -> Path:
        "A finished tiny run folder (1 epoch of 64 confounded digits)."
        if self._run is None:
            self._run = self.root/'runs'/'done'
            pretrain(dict(epochs=1, n_train=64, n_valid=32, bs=32, size=16), self._run, progress=False, device='cpu')
        return self._run

    def run_copy(self, name, edit=None) -> Path:
        "A copy of `run`, with `edit(folder)` applied."
        dst = self.root/'runs'/name
        if not dst.exists():
            shutil.copytree(self.run, dst)
            if edit: edit(dst)
        return dst

    def tvroot(self, name, sub=None, junk=False) -> Path:
        r = self.root/'tv'/name
        r.mkdir(parents=True, exist_ok=True)
        if sub:
            (r/sub).mkdir(exist_ok=True)
            if junk: (r/sub/'data_batch_1').write_bytes(b'not a pickle')
        return r

def tree(root:Path) -> dict:
    "What is on disk under `root` (outside the data cache): path -> (size, mtime)."
    out = {}
    for d, _, fs in os.walk(root):
        if 'cache' in Path(d).relative_to(root).parts[:1]: continue
        for f in fs:
            p = Path(d)/f
            try: st = p.stat(); out[str(p)] = (st.st_size, st.st_mtime_ns)
            except OSError: out[str(p)] = None  # a dangling or looping link
    return out

def one_line(e:BaseException) -> str:
    "The message of `e` without the prefix fastai adds to an error raised inside a callback."
    s = str(e)
    return s.split('\n\t')[-1] if s.startswith('Exception occured in') else s

def run_cli(argv):
    "`iclmsr ARGV` in this process: (exit status, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: main([str(a) for a in argv]); code = 0
        except SystemExit as e: code = e.code
    return code, out.getvalue(), err.getvalue()

# ---------------------------------------------------------------- expectations
def api_error(w, fn, *args, needle, **kwargs):
    "`fn(*args, **kwargs)` raises a ValueError/TypeError/OSError whose message is one line naming `needle`; nothing on disk changes."
    before = tree(w.root)  # the inputs (`args`) are made before this
    with pytest.raises(ERRORS) as ei: fn(*args, **kwargs)
    msg = one_line(ei.value)
    assert '\n' not in msg.strip(), f"not one line: {msg!r}"
    assert needle in msg, f"{needle!r} not in {msg!r}"
    assert tree(w.root) == before, 'something was written'

def cli_error(w, argv, needle):
    "`iclmsr ARGV` exits with status 2 and one line on stderr naming `needle`; no traceback; nothing on disk changes."
    before = tree(w.root)
    code, out, err = run_cli(argv)
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2, (code, err)
    assert 'Traceback' not in err and lines and needle in lines[-1], err
    assert lines[-1].startswith('iclmsr ') and 'error:' in lines[-1], err
    assert len([l for l in lines if 'error:' in l]) == 1, err
    assert tree(w.root) == before, 'something was written'

def works(w, fn, check=None):
    r = fn()
    if check is not None: assert check(r), r

def pixels(folder, name):
    "The RGB pixels the image-folder loader gives for the file `name` of `folder`."
    dls = image_folder_dls(folder, size=12, bs=2, valid_pct=0.3, device='cpu')
    for ds in (dls.train_ds, dls.valid_ds):
        for i, f in enumerate(ds.items):
            if f.name == name: return np.asarray(ds[i][0])
    raise KeyError(name)

def first_batch(folder, size=8):
    x, _ = image_folder_dls(folder, size=size, bs=2, valid_pct=0.3, device='cpu').train.one_batch()
    return x

def fit_one_batch(dls, method='simclr'):
    learn = Learner(dls, create_model(method, hidden_dim=16, out_dim=8), cbs=[create_method(method)])
    with learn.no_bar(), learn.no_logging(): learn.fit(1)
    return learn

def nan_dls():
    dls = synthetic_dls(n=8, bs=4)
    dls.train_ds.tensors[0][3, 0, 0, 0] = float('nan')
    return dls

def self_link(p): os.symlink(p, p)
def loop_link(p): os.symlink(p.parent.parent, p)  # a/loop -> the folder itself

def newer_version(d):
    ck = torch.load(d/'encoder.pt', weights_only=False); ck['version'] = 99; torch.save(ck, d/'encoder.pt')
def newer_option(d):
    ck = torch.load(d/'encoder.pt', weights_only=False); ck['config']['warp_drive'] = True; torch.save(ck, d/'encoder.pt')
def other_arch(d):
    cfg = json.loads((d/'config.json').read_text()); cfg['arch'] = 'resnet18'; (d/'config.json').write_text(json.dumps(cfg))
def locked(w, check):
    "`check()` while this process holds the run folder runs/locked (as a `pretrain` in another process would)."
    from iclmsr.runs import run_lock
    with run_lock(w.root/'runs'/'locked'): check()
def truncate_encoder(d):
    b = (d/'encoder.pt').read_bytes(); (d/'encoder.pt').write_bytes(b[:len(b) // 3])

JPG = jpg_bytes()
PNG = png_bytes(np.zeros((32, 32, 3), np.uint8))
inf, nan = float('inf'), float('nan')

# ---------------------------------------------------------------- the table: (id, entry, expectation)
CASES = [
    # image folders
    ('folder: non-image file with an image extension', 'api', lambda w: api_error(w, image_folder_dls, w.folder('nonimage', **{'a/notes.jpg': b'hello'}), needle='notes.jpg')),
    ('folder: truncated JPEG', 'api', lambda w: api_error(w, image_folder_dls, w.folder('cutjpg', **{'a/cut.jpg': JPG[:len(JPG) // 2]}), needle='cut.jpg')),
    ('folder: truncated PNG', 'api', lambda w: api_error(w, image_folder_dls, w.folder('cutpng', **{'a/cut.png': PNG[:len(PNG) // 2]}), needle='cut.png')),
    ('folder: empty class folder', 'api', lambda w: api_error(w, image_folder_dls, w.folder('emptyclass', c=None), needle=str(w.root/'folders'/'emptyclass'/'c'))),
    ('folder: image linked to itself', 'api', lambda w: api_error(w, image_folder_dls, w.folder('selflink', **{'a/self.png': self_link}), needle='self.png')),
    ('folder: float image with NaN pixels', 'api', lambda w: api_error(w, image_folder_dls, w.folder('nanpix', **{'a/nan.tiff': Image.fromarray(np.full((8, 8), nan, np.float32))}), needle='nan.tiff')),
    ('folder: does not exist', 'api', lambda w: api_error(w, image_folder_dls, w.root/'nowhere', needle=str(w.root/'nowhere'))),
    ('folder: is a file', 'api', lambda w: api_error(w, image_folder_dls, w.folder('plain')/'a'/'0.png', needle='0.png')),
    ('folder: truncated image, on the command line', 'cli', lambda w: cli_error(w, ['pretrain', '--data', f"folder:{w.folder('cutjpg', **{'a/cut.jpg': JPG[:len(JPG) // 2]})}", *TINY_FOLDER, '--out', w.root/'runs'/'new'], 'cut.jpg')),
    ('folder: grayscale image (works, converted)', 'api', lambda w: works(w, lambda: pixels(w.folder('grey', **{'a/g.png': Image.fromarray(np.full((12, 12), 200, np.uint8))}), 'g.png'),
                                                                      lambda x: x.shape == (12, 12, 3) and (x == 200).all())),
    ('folder: RGBA image (works, converted)', 'api', lambda w: works(w, lambda: pixels(w.folder('rgba', **{'a/t.png': Image.fromarray(np.full((12, 12, 4), 90, np.uint8), 'RGBA')}), 't.png'),
                                                                  lambda x: x.shape == (12, 12, 3) and (x == 90).all())),
    ('folder: 16-bit PNG (works, scaled to 8 bits)', 'api', lambda w: works(w, lambda: pixels(w.folder('i16', **{'a/d.png': Image.fromarray(np.full((12, 12), 32896, np.uint16))}), 'd.png'),
                                                                         lambda x: x.shape == (12, 12, 3) and (x == 128).all())),
    ('folder: mixed image sizes (works, resized)', 'api', lambda w: works(w, lambda: first_batch(w.folder('sizes', **{'a/big.png': Image.fromarray(np.zeros((40, 24, 3), np.uint8)),
                                                                                                                  'b/small.png': Image.fromarray(np.zeros((5, 9, 3), np.uint8))})),
                                                                       lambda x: x.shape == (2, 3, 8, 8))),
    ('folder: symlink loop (works, each image once)', 'api', lambda w: works(w, lambda: image_folder_dls(w.folder('loop', **{'a/loop': loop_link}), size=8, bs=2, device='cpu'),
                                                                          lambda d: len(d.train_ds) + len(d.valid_ds) == 6)),
    ('folder: a text file next to the images (works, ignored)', 'api', lambda w: works(w, lambda: image_folder_dls(w.folder('txt', **{'a/readme.txt': b'notes'}), size=8, bs=2, device='cpu'),
                                                                                    lambda d: len(d.train_ds) + len(d.valid_ds) == 6)),
    ('folder: odd images train end to end on the command line (works)', 'cli', lambda w: works(w, lambda: run_cli(['pretrain', '--data', f"folder:{w.folder('odd', **{'a/g.png': Image.fromarray(np.full((12, 12), 200, np.uint8)), 'a/t.png': Image.fromarray(np.full((9, 14, 4), 90, np.uint8), 'RGBA'), 'b/d.png': Image.fromarray(np.full((20, 12), 32896, np.uint16))})}",
                                                                                                            '--epochs', '1', '--bs', '4', '--size', '16', '--no-progress', '--out', w.root/'runs'/'odd']),
                                                                                    lambda r: r[0] == 0 and (w.root/'runs'/'odd'/'encoder.pt').exists())),
    # torchvision roots
    ('torchvision: root holds another dataset', 'api', lambda w: api_error(w, torchvision_dls, 'cifar100', w.tvroot('c10', 'cifar-10-batches-py'), needle='cifar-100-python')),
    ('torchvision: dataset folder with junk in it', 'api', lambda w: api_error(w, torchvision_dls, 'cifar10', w.tvroot('junk', 'cifar-10-batches-py', junk=True), needle='cifar-10-batches-py')),
    ('torchvision: root does not exist', 'api', lambda w: api_error(w, torchvision_dls, 'cifar10', w.root/'no-tv', needle=str(w.root/'no-tv'))),
    # batches
    ('batch size larger than the dataset (works, one smaller batch)', 'api', lambda w: works(w, lambda: confounded_dls(n_train=40, n_valid=20, size=16, bs=64, device='cpu'),
                                                                                          lambda d: len(d.train) == 1 and d.train.one_batch()[0].shape[0] == 40)),
    ('a training batch of 1', 'api', lambda w: api_error(w, lambda: fit_one_batch(synthetic_dls(n=4, bs=1)), needle='`bs`')),
    ('bs 1 on the command line', 'cli', lambda w: cli_error(w, ['pretrain', *TINY, '--bs', '1', '--out', w.root/'runs'/'new'], '`bs`')),
    ('n_train 1 on the command line', 'cli', lambda w: cli_error(w, ['pretrain', *TINY, '--n-train', '1', '--out', w.root/'runs'/'new'], '`n_train`')),
    ('images smaller than the crop (works, upsampled)', 'api', lambda w: works(w, lambda: ContrastiveViews(size=32)(torch.rand(4, 3, 8, 8))[0],
                                                                            lambda v: all(t.shape == (4, 3, 32, 32) for t in v))),
    ('confounded images smaller than 16 px', 'api', lambda w: api_error(w, pretrain, dict(size=8, epochs=1, n_train=64, n_valid=32, bs=32), w.root/'runs'/'new', needle='`size`')),
    # NaN / Inf pixels
    ('NaN pixels in an image array', 'api', lambda w: api_error(w, lambda: ImageArrayDataset(np.full((2, 4, 4, 3), nan, np.float32), np.zeros(2, np.int64)), needle='`images`')),
    ('float pixels in an image array', 'api', lambda w: api_error(w, lambda: ImageArrayDataset(np.zeros((2, 4, 4, 3), np.float32), np.zeros(2, np.int64)), needle='`images`')),
    ('labels that do not match the images', 'api', lambda w: api_error(w, lambda: ImageArrayDataset(np.zeros((2, 4, 4, 3), np.uint8), np.zeros(3, np.int64)), needle='`labels`')),
    ('NaN pixels in a training batch', 'api', lambda w: api_error(w, lambda: fit_one_batch(nan_dls()), needle='`x`')),
]

# hyperparameters out of range: (constructor, keyword, value); the error must name the keyword
HYPER = [
    (ICLMSR, 'n', 0), (ICLMSR, 'n', 2.5), (ICLMSR, 'lam', -1), (ICLMSR, 'lam', nan), (ICLMSR, 'alpha', 0), (ICLMSR, 'alpha', inf),
    (ICLMSR, 'gamma', -0.1), (ICLMSR, 's', 0), (ICLMSR, 'msr_lr', 0), (ICLMSR, 'msr_lr', '1e-3'), (ICLMSR, 'mode', 'second'),
    (ICLMSR, 'schedule', 'sometimes'), (ICLMSR, 'proj', 'each'), (ICLMSR, 'every', 0), (ICLMSR, 'form', 'log'), (ICLMSR, 'skip_nonfinite', 'yes'),
    (lambda **k: MetaSemanticRegularizer(**{'c': 8, **k}), 'c', 0), (lambda **k: MetaSemanticRegularizer(8, **k), 'n', 0),
    (lambda **k: MetaSemanticRegularizer(8, **k), 'width', 0), (lambda **k: MetaSemanticRegularizer(8, **k), 'init_scale', 0),
    (lambda **k: MetaSemanticRegularizer(8, **k), 'init_scale', inf), (lambda **k: MetaSemanticRegularizer(8, **k), 'floor', 1),
    (lambda **k: MetaSemanticRegularizer(8, **k), 'floor', -0.1),
    (SimCLR, 'tau', 0), (SimCLR, 'tau', nan), (SimCLR, 'tau', '0.5'), (SimCLR, 'n_views', 3), (MoCoV2, 'tau', -1), (MoCoV2, 'queue_size', -1),
    (MoCoV2, 'queue_size', 2.5), (MoCoV2, 'm', 1), (BYOL, 'm', -0.1), (BYOL, 'm', nan), (BarlowTwins, 'lambd', -1), (BarlowTwins, 'lambd', inf),
    ]
for f, k, v in HYPER:
    name = getattr(f, '__name__', '?')
    if name == '<lambda>': name = 'MetaSemanticRegularizer' if k != 'method' else 'create_method'
    CASES.append((f"{name}({k}={v!r})", 'api', lambda w, f=f, k=k, v=v: api_error(w, lambda: f(**{k: v}), needle=f"`{k}`")))

_mcl_dls = []
def mcl_dls():
    if not _mcl_dls: _mcl_dls.append(confounded_dls(n_train=64, n_valid=32, size=16, bs=32, device='cpu'))
    return _mcl_dls[0]
for k, v in (('stages', 0), ('clusters', 1), ('clusters', 1000), ('combine', 'some'), ('epochs_per_stage', 0), ('lr', -1), ('lr', nan),
             ('wd', -1), ('method', 'byol'), ('iclmsr', 0.5), ('min_group', 0), ('n_init', 0)):
    CASES.append((f"train_mcl({k}={v!r})", 'api', lambda w, k=k, v=v: api_error(w, lambda: train_mcl(mcl_dls(), **{k: v}, progress=False), needle=f"`{k}`")))

for k, v in (('epochs', 0), ('bs', True), ('lr', inf), ('wd', -1), ('lam', nan), ('alpha', 0), ('gamma', -1), ('msr_lr', 0), ('rho', '0.9'),
             ('n_strata', 0), ('hidden_dim', 0), ('out_dim', 2.5), ('iclmsr', 'yes'), ('cifar_stem', 1), ('seed', -1), ('skip_nonfinite_meta', None)):
    CASES.append((f"check_config({k}={v!r})", 'api', lambda w, k=k, v=v: api_error(w, lambda: check_config({k: v}), needle=f"`{k}`")))

for flags, needle in ((['--epochs', '0'], '`epochs`'), (['--bs', '0'], '`bs`'), (['--lr', '0'], '`lr`'), (['--lr', 'nan'], '`lr`'), (['--lr', 'inf'], '`lr`'),
                      (['--wd', '-1'], '`wd`'), (['--rho', '2'], '`rho`'), (['--lam', '-1'], '`lam`'), (['--alpha', '0'], '`alpha`'),
                      (['--gamma', '-1'], '`gamma`'), (['--msr-lr', '0'], '`msr_lr`'), (['--msr-floor', '1'], '`msr_floor`'),
                      (['--n-strata', '0'], '`n_strata`'), (['--every', '0'], '`every`'), (['--stages', '0'], '`stages`'),
                      (['--clusters', '1'], '`clusters`'), (['--seed', '-1'], '`seed`'), (['--size', '0'], '`size`'), (['--n-valid', '0'], '`n_valid`'),
                      (['--stages', '3', '--epochs', '2'], '`epochs`'), (['--stages', '2', '--method', 'byol'], '`method`'), (['--method', 'byol', '--iclmsr', '--msr-proj', 'batch'], '`msr_proj`'),
                      (['--data', 'imagenet'], '`data`'), (['--epochs', 'many'], '--epochs'), (['--method', 'swav'], '--method')):
    CASES.append((f"pretrain {' '.join(flags)}", 'cli', lambda w, flags=flags, needle=needle: cli_error(w, ['pretrain', *TINY, *flags, '--out', w.root/'runs'/'new'], needle)))

# a user's own images, after training: the evaluators and MCL
def own_folder(w):
    "An image folder of 40 PNGs (12-16 px, mixed sizes) in 4 class folders, each class its own colour."
    rng = np.random.default_rng(0)
    def img(i):
        a = rng.integers(0, 80, (12 + i % 5, 14, 3)); a[..., i % 3] += 150
        return Image.fromarray(a.astype(np.uint8))
    extra = {f"c{i % 4}/{i}.png": img(i) for i in range(40)}
    f = w.folder('own', **extra)
    for c in 'ab': shutil.rmtree(f/c, ignore_errors=True)  # only the four colour classes
    return f

def own_dls(w): return image_folder_dls(own_folder(w), size=16, bs=8, valid_pct=0.25, seed=0, device='cpu')
def tiny_model(): return create_model('simclr', hidden_dim=16, out_dim=8, seed=0)

def probe_on_fastai_tensors(w):
    "Features and labels as a fastai loader gives them (TensorImage, TensorCategory): the probes take them."
    from fastai.torch_core import TensorImage, TensorCategory
    f = torch.cat([torch.eye(4), torch.eye(4)]) * 5 + 0.01 * torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8) % 4
    return linear_probe(TensorImage(f), TensorCategory(y), TensorImage(f), TensorCategory(y)), knn_accuracy(TensorImage(f), TensorCategory(y), TensorImage(f), TensorCategory(y), k=1)

def one_class_warns(w):
    import warnings
    f = w.folder('oneclass')
    shutil.rmtree(f/'b', ignore_errors=True)
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always'); image_folder_dls(f, size=8, bs=2, valid_pct=0.34, device='cpu')
    return [str(m.message) for m in ws]

CASES += [
    ('eval: features of an image folder\'s validation set, a fastai Datasets (works)', 'api',
     lambda w: works(w, lambda: extract_features(tiny_model(), own_dls(w).valid_ds, with_labels=True, progress=False),
                     lambda r: r[0].shape == (10, 256) and type(r[1]) is torch.Tensor and r[1].tolist() == own_dls(w).valid_ds.tls[1][:10])),
    ('eval: features of an image folder\'s DataLoader (works)', 'api',
     lambda w: works(w, lambda: extract_features(tiny_model(), own_dls(w).valid, with_labels=True, progress=False), lambda r: r[0].shape == (10, 256))),
    ('eval: linear_probe and knn_accuracy on fastai TensorImage/TensorCategory (works)', 'api',
     lambda w: works(w, lambda: probe_on_fastai_tensors(w), lambda r: r == (1.0, 1.0))),
    ('eval: linear_probe on numpy features and labels (works)', 'api',
     lambda w: works(w, lambda: fit_linear_probe(np.eye(4, dtype=np.float32), np.arange(4)).accuracy(np.eye(4, dtype=np.float32), np.arange(4)), lambda a: a == 1.0)),
    ('eval: extract_features of a whole DataLoaders', 'api', lambda w: api_error(w, extract_features, tiny_model(), own_dls(w), needle='`data`')),
    ('eval: extract_features of a list of file names', 'api', lambda w: api_error(w, extract_features, tiny_model(), ['a.png', 'b.png'], needle='`data`')),
    ('eval: extract_features of normalised images (outside [0, 1])', 'api',
     lambda w: api_error(w, extract_features, tiny_model(), torch.utils.data.TensorDataset(torch.randn(4, 3, 8, 8), torch.zeros(4, dtype=torch.long)), needle='[0, 1]')),
    ('mcl: train_mcl on an image folder (works)', 'api',
     lambda w: works(w, lambda: train_mcl(own_dls(w), make_model=tiny_model, stages=2, clusters=2, epochs_per_stage=1, progress=False),
                     lambda e: e.stages == 2 and len(e.pseudo_labels) == 30)),
    ('mcl: train_mcl given a DataLoader, not DataLoaders', 'api', lambda w: api_error(w, lambda: train_mcl(own_dls(w).train, make_model=tiny_model, progress=False), needle='`dls`')),
    ('folder: one class (works, with a warning)', 'api', lambda w: works(w, lambda: one_class_warns(w), lambda ms: any('one class' in m for m in ms))),
]

# run folders
CASES += [
    ('eval: a folder that is not a run', 'cli', lambda w: cli_error(w, ['eval', w.folder('plain'), '--no-progress'], str(w.folder('plain')))),
    ('eval: a run of a newer format', 'cli', lambda w: cli_error(w, ['eval', w.run_copy('newer', newer_version), '--no-progress'], 'newer iclmsr')),
    ('eval: a run with an option this iclmsr does not know', 'cli', lambda w: cli_error(w, ['eval', w.run_copy('newopt', newer_option), '--no-progress'], 'newer iclmsr')),
    ('eval: a truncated encoder.pt', 'cli', lambda w: cli_error(w, ['eval', w.run_copy('trunc', truncate_encoder), '--no-progress'], str(w.root/'runs'/'trunc'/'encoder.pt'))),
    ('eval: --n-eval 5', 'cli', lambda w: cli_error(w, ['eval', w.run, '--n-eval', '5', '--no-progress'], '`n_eval`')),
    ('pretrain --resume with changed options', 'cli', lambda w: cli_error(w, ['pretrain', '--epochs', '2', '--n-train', '64', '--n-valid', '32', '--bs', '16', '--size', '16',
                                                                             '--out', w.run, '--resume', '--no-progress'], 'these differ: bs (run 32, now 16)')),  # more epochs: an extension
    ('pretrain --out an existing run without --resume', 'cli', lambda w: cli_error(w, ['pretrain', *TINY, '--out', w.run], 'holds a run already')),
    ('pretrain --out a file', 'cli', lambda w: cli_error(w, ['pretrain', *TINY, '--out', w.run/'config.json'], 'must be a folder')),
    ('pretrain --out below a file (unwritable)', 'cli', lambda w: cli_error(w, ['pretrain', *TINY, '--out', w.run/'config.json'/'sub'], 'can write to')),
    ('pretrain --data folder: with --n-train (an option of the benchmarks)', 'cli', lambda w: cli_error(w, ['pretrain', *TINY, '--data', f"folder:{w.folder('plain')}", '--out', w.root/'runs'/'new'], 'left out with --data folder:PATH')),
    ('pretrain --data folder: with --rho', 'cli', lambda w: cli_error(w, ['pretrain', '--rho', '0.2', '--epochs', '1', '--bs', '4', '--no-progress', '--data', f"folder:{w.folder('plain')}", '--out', w.root/'runs'/'new'], '`rho`')),
    ('pretrain --out a folder another process is training in', 'cli', lambda w: locked(w, lambda: cli_error(w, ['pretrain', *TINY, '--out', w.root/'runs'/'locked'], 'is in use by process'))),
    ('eval: config.json that is not JSON', 'cli', lambda w: cli_error(w, ['eval', w.run_copy('badjson', lambda d: (d/'config.json').write_text('{"arch": ')), '--no-progress'], 'config.json is not valid JSON')),
    ('eval: config.json that disagrees with encoder.pt', 'cli', lambda w: cli_error(w, ['eval', w.run_copy('otherarch', other_arch), '--no-progress'], "disagree on arch (config.json 'resnet18', encoder.pt 'smallcnn')")),
    ('pretrain --data folder:missing', 'cli', lambda w: cli_error(w, ['pretrain', *TINY_FOLDER, '--data', f"folder:{w.root/'nowhere'}", '--out', w.root/'runs'/'new'], str(w.root/'nowhere'))),
]

def _subprocess(w, argv, needle):
    before = tree(w.root)
    r = subprocess.run([sys.executable, '-m', 'iclmsr.cli', *map(str, argv)], capture_output=True, text=True,
                       env=dict(os.environ, ICLMSR_CACHE=str(w.root/'cache')))
    errors = [l for l in r.stderr.splitlines() if 'error:' in l]
    assert r.returncode == 2 and 'Traceback' not in r.stderr and len(errors) == 1 and needle in errors[0], r.stderr
    assert tree(w.root) == before
CASES += [
    ('subprocess: eval a truncated encoder.pt', 'cli-subprocess', lambda w: _subprocess(w, ['eval', w.run_copy('trunc', truncate_encoder)], 'encoder.pt')),
    ('subprocess: pretrain a folder with a truncated image', 'cli-subprocess', lambda w: _subprocess(w, ['pretrain', *TINY_FOLDER, '--data', f"folder:{w.folder('cutpng', **{'a/cut.png': PNG[:len(PNG) // 2]})}", '--out', w.root/'runs'/'new'], 'cut.png')),
]

# ---------------------------------------------------------------- running the table
RESULTS = {}

@pytest.fixture(scope='module')
def w(tmp_path_factory):
    root = tmp_path_factory.mktemp('corpus')
    old = os.environ.get('ICLMSR_CACHE')
    os.environ['ICLMSR_CACHE'] = str(root/'cache')
    yield Workspace(root)
    if old is None: os.environ.pop('ICLMSR_CACHE', None)
    else: os.environ['ICLMSR_CACHE'] = old

@pytest.mark.parametrize('case', CASES, ids=[f"{i:03d} {c[1]}: {c[0]}" for i, c in enumerate(CASES)])
def test_case(case, w):
    name, entry, run = case
    RESULTS[name] = False
    run(w)
    RESULTS[name] = True

def test_corpus_summary(capsys):
    assert len({c[0] for c in CASES}) == len(CASES), 'case names must be unique'
    kinds = {k: sum(c[1] == k for c in CASES) for k in ('api', 'cli', 'cli-subprocess')}
    line = (f"bad-input corpus: {len(CASES)} cases ({', '.join(f'{v} {k}' for k, v in kinds.items())}), "
            f"{sum(RESULTS.values())} pass" + (f", {len(CASES) - len(RESULTS)} not run" if len(RESULTS) < len(CASES) else ''))
    with capsys.disabled(): print('\n' + line)
    failed = [n for n, ok in RESULTS.items() if not ok]
    assert not failed, f"{line}; failed: {failed}"
