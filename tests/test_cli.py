"""End-to-end tests of the `iclmsr` command: pretrain, eval, and resume after the process is killed mid-epoch."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from conftest import iclmsr, weights

ARGS = ['--epochs', '3', '--n-train', '768', '--n-valid', '256', '--bs', '128', '--seed', '3', '--no-progress']

def test_pretrain_eval(tmp_path, env):
    run = tmp_path/'run'
    r = iclmsr('pretrain', '--iclmsr', '--every', '2', *ARGS[:1], '1', *ARGS[2:], '--out', str(run), env=env)
    assert r.returncode == 0, r.stderr
    cfg = json.loads((run/'config.json').read_text())
    assert cfg['iclmsr'] is True and cfg['epochs'] == 1 and cfg['n_train'] == 768
    resolved = ('fp32', 'bf16', 'fp16') if torch.cuda.is_available() else ('fp32', 'bf16')
    assert cfg['precision'] in resolved and 'bf16' not in cfg  # 'auto' resolved for this machine: what the run ran with
    assert torch.load(run/'last.pt', weights_only=False, map_location='cpu')['config']['precision'] == cfg['precision']
    metrics = json.loads((run/'metrics.json').read_text())
    assert len(metrics) == 1 and metrics[0]['meta_steps'] == 3  # 6 batches, phase 2 every 2
    r = iclmsr('eval', str(run), '--n-eval', '200', '--no-progress', env=env)
    assert r.returncode == 0, r.stderr
    res = json.loads((run/'eval.json').read_text())
    for k in ('confounded_test', 'confounded_swapped', 'unconfounded_rho0', 'bg_decodability', 'background_reliance', 'fg_attention'):
        assert k in res and res[k] == res[k], k  # present and not NaN
    assert 0 <= res['confounded_test'] <= 1 and abs(res['background_reliance'] - (res['confounded_test'] - res['confounded_swapped'])) < 1e-9
    assert 'confounded_test' in r.stdout  # the table is printed

def test_bad_arguments(tmp_path, env):
    r = iclmsr('pretrain', '--rho', '2', '--out', str(tmp_path), env=env)
    assert r.returncode == 2 and '`rho`' in r.stderr and 'Traceback' not in r.stderr
    r = iclmsr('pretrain', '--data', 'folder:/no/such/folder', '--out', str(tmp_path), env=env)
    assert r.returncode == 2 and '/no/such/folder' in r.stderr and 'Traceback' not in r.stderr
    if not torch.cuda.is_available():  # fp16 training needs a CUDA GPU
        r = iclmsr('pretrain', '--precision', 'fp16', '--out', str(tmp_path), env=env)
        assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
        errors = [l for l in r.stderr.splitlines() if 'error' in l]  # one line (fastai's import may warn before it)
        assert len(errors) == 1 and errors[0].startswith('iclmsr pretrain: error: argument `precision`'), r.stderr
    r = iclmsr('frobnicate', env=env)
    assert r.returncode == 2 and 'Traceback' not in r.stderr

@pytest.mark.parametrize('extra', [[], ['--iclmsr', '--every', '2']], ids=['simclr', 'simclr+iclmsr'])
def test_resume_after_kill_matches_uninterrupted(tmp_path, env, extra):
    full, cut = tmp_path/'full', tmp_path/'cut'
    r = iclmsr('pretrain', *ARGS, *extra, '--out', str(full), env=env)
    assert r.returncode == 0, r.stderr
    p = subprocess.Popen([sys.executable, '-m', 'iclmsr.cli', 'pretrain', *ARGS, *extra, '--out', str(cut)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not (cut/'metrics.json').exists() and time.time() - t0 < 300: time.sleep(0.05)
    time.sleep(0.3)  # well into the second epoch
    assert p.poll() is None, 'the run ended before it could be interrupted'
    p.send_signal(signal.SIGKILL); p.wait()
    done = json.loads((cut/'metrics.json').read_text())
    assert 1 <= len(done) < 3 and not (cut/'encoder.pt').exists()
    r = iclmsr('pretrain', *ARGS, *extra, '--out', str(cut), '--resume', env=env)
    assert r.returncode == 0, r.stderr
    a, b = weights(full), weights(cut)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), 'resumed run differs from the uninterrupted one'
    assert json.loads((cut/'metrics.json').read_text())[-1]['epoch'] == 2
