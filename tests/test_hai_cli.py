"""End-to-end tests of `iclmsr pretrain --hai`: pretrain, eval, the exported encoder, and resume after a kill."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from conftest import iclmsr, weights

ARGS = ['--n-train', '384', '--n-valid', '128', '--bs', '128', '--seed', '2', '--no-progress']

@pytest.mark.parametrize('extra', [['--method', 'simsiam'], ['--no-colour-embedding']], ids=['simsiam+hai', 'simclr+hai-colour'])
def test_pretrain_hai_eval(tmp_path, env, extra):
    from iclmsr.config import build_model, check_config
    run = tmp_path/'run'
    r = iclmsr('pretrain', '--hai', '--epochs', '1', *ARGS, *extra, '--out', str(run), env=env)
    assert r.returncode == 0, r.stderr
    cfg = json.loads((run/'config.json').read_text())
    assert cfg['hai'] is True and cfg['colour_embedding'] is ('--no-colour-embedding' not in extra)
    w = weights(run)
    assert list(w) == list(build_model(check_config(cfg)).state_dict())  # the exported model has no HAI parameter
    st = torch.load(run/'last.pt', weights_only=False, map_location='cpu')['state']
    assert sorted(st['hai']['branches']) and any(k.startswith('1.head') for k in st['hai']['branches'])  # the checkpoint has them
    r = iclmsr('eval', str(run), '--n-eval', '100', '--no-progress', env=env)
    assert r.returncode == 0, r.stderr
    res = json.loads((run/'eval.json').read_text())
    for k in ('confounded_test', 'unconfounded_rho0', 'bg_decodability'): assert 0 <= res[k] <= 1, k

def test_hai_with_mcl_refused(tmp_path, env):
    r = iclmsr('pretrain', '--hai', '--stages', '2', '--epochs', '2', '--out', str(tmp_path), env=env)
    assert r.returncode == 2 and 'argument `hai`' in r.stderr and 'Traceback' not in r.stderr

@pytest.mark.slow
def test_hai_resume_after_kill_matches_uninterrupted(tmp_path, env):
    args = ['--hai', '--epochs', '3', *ARGS]
    full, cut = tmp_path/'full', tmp_path/'cut'
    r = iclmsr('pretrain', *args, '--out', str(full), env=env)
    assert r.returncode == 0, r.stderr
    p = subprocess.Popen([sys.executable, '-m', 'iclmsr.cli', 'pretrain', *args, '--out', str(cut)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not (cut/'metrics.json').exists() and time.time() - t0 < 600: time.sleep(0.05)
    time.sleep(0.5)  # into the second epoch
    assert p.poll() is None, 'the run ended before it could be interrupted'
    p.send_signal(signal.SIGKILL); p.wait()
    assert 1 <= len(json.loads((cut/'metrics.json').read_text())) < 3 and not (cut/'encoder.pt').exists()
    r = iclmsr('pretrain', *args, '--out', str(cut), '--resume', env=env)
    assert r.returncode == 0, r.stderr
    a, b = weights(full), weights(cut)
    assert all(torch.equal(a[k], b[k]) for k in a), 'resumed HAI run differs from the uninterrupted one'
