"""What people expect from a training command: --version, --help with examples, one line per epoch with --no-progress,
metrics.csv, eval --json, a clear error for --tensorboard without the package, and clean stored notebook outputs."""
import contextlib, importlib.util, io, json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))

def run_cli(*argv):
    from iclmsr.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: main([str(a) for a in argv]); code = 0
        except SystemExit as e: code = e.code
    return code, out.getvalue(), err.getvalue()

def test_version_and_help():
    import iclmsr
    code, out, _ = run_cli('--version')
    assert code == 0 and out.strip() == f"iclmsr {iclmsr.__version__}"
    for cmd in ('pretrain', 'eval', 'demo'):
        code, out, _ = run_cli(cmd, '--help')
        assert code == 0 and 'examples:' in out and f"iclmsr {cmd}" in out, out
    code, out, _ = run_cli('--help')
    assert code == 0 and 'examples:' in out and 'iclmsr eval runs/icl --json' in out

def test_import_is_quiet():
    "Importing iclmsr shows no third-party deprecation warning (fastai's torch.jit.script FutureWarning is filtered)."
    r = subprocess.run([sys.executable, '-W', 'default', '-c', 'import iclmsr.all, iclmsr.cli'], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0 and 'torch.jit.script' not in r.stderr, r.stderr
    r = subprocess.run([sys.executable, '-c', 'import iclmsr.cli, warnings; warnings.warn("mine", FutureWarning)'],
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert 'FutureWarning: mine' in r.stderr  # the filter is narrow: other FutureWarnings still show

@pytest.mark.skipif(importlib.util.find_spec('tensorboard') is not None, reason='tensorboard is installed here')
def test_tensorboard_missing_is_a_clear_error(tmp_path):
    code, _, err = run_cli('pretrain', '--tensorboard', '--epochs', '1', '--out', tmp_path/'run')
    assert code == 2 and 'pip install tensorboard' in err and 'Traceback' not in err, err
    assert not (tmp_path/'run').exists()

def test_no_progress_csv_and_eval_json(tmp_path):
    import pandas as pd
    run = tmp_path/'run'
    env = dict(os.environ, ICLMSR_CACHE=str(tmp_path/'cache'), PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    r = subprocess.run([sys.executable, '-m', 'iclmsr.cli', 'pretrain', '--epochs', '2', '--n-train', '64', '--n-valid', '32',
                        '--bs', '32', '--size', '16', '--no-progress', '--out', str(run)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3, r.stdout                                 # one line per epoch, then the last epoch's metrics
    assert lines[0].startswith('epoch 1/2  train_loss ') and lines[1].startswith('epoch 2/2  ') and 'images/s' in lines[1]
    assert json.loads(lines[2])['epoch'] == 1
    assert '\r' not in r.stdout + r.stderr and '\x1b' not in r.stdout + r.stderr
    df = pd.read_csv(run/'metrics.csv')
    assert df.epoch.tolist() == [0, 1] and {'train_loss', 'valid_loss', 'seconds'} <= set(df.columns)
    assert df.train_loss.tolist() == [m['train_loss'] for m in json.loads((run/'metrics.json').read_text())]
    r = subprocess.run([sys.executable, '-m', 'iclmsr.cli', 'eval', str(run), '--n-eval', '20', '--json'],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res == json.loads((run/'eval.json').read_text()) and 0 <= res['confounded_test'] <= 1

def test_stored_notebook_outputs_are_clean():
    "No stored output has a console progress bar's carriage returns, ANSI escapes or fastai's import warning."
    from clean_outputs import dirty
    bad = {p.name: dirty(p) for p in sorted((ROOT/'nbs').glob('*.ipynb'))}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"run tools/clean_outputs.py: {bad}"
