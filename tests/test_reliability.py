"""Crash-safe training, end to end: a kill inside a checkpoint write, then `--resume`; a run that diverges to NaN."""
import json, os, subprocess, sys, time
from pathlib import Path
import pytest, torch
from conftest import iclmsr, weights

ARGS = ['--epochs', '2', '--n-train', '256', '--n-valid', '128', '--bs', '128', '--seed', '5', '--no-progress']

def test_kill_inside_checkpoint_write_then_resume(tmp_path, env):
    "Killed halfway through writing epoch 1's `last.pt`: the file on disk is still epoch 0's, and `--resume` ends bit-identical."
    extra = ['--iclmsr', '--every', '2']
    full, cut = tmp_path/'full', tmp_path/'cut'
    r = iclmsr('pretrain', *ARGS, *extra, '--out', str(full), env=env)
    assert r.returncode == 0, r.stderr
    # writes of last.pt: 1st the initial state, 2nd end of epoch 0, 3rd end of epoch 1: pause inside the 3rd
    slow = dict(env, ICLMSR_TEST_PAUSE_IN_WRITE='last.pt,2,600')
    p = subprocess.Popen([sys.executable, '-m', 'iclmsr.cli', 'pretrain', *ARGS, *extra, '--out', str(cut)], env=slow,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0, line = time.time(), ''
    while 'pausing' not in line and time.time() - t0 < 300:
        line = p.stderr.readline()
        if not line and p.poll() is not None: break
    assert 'pausing' in line and 'last.pt' in line, 'the run ended before its checkpoint write could be interrupted'
    p.kill(); p.wait(); p.stderr.close()
    tmp = [f for f in os.listdir(cut) if f.endswith('.tmp')]
    assert len(tmp) == 1 and tmp[0].startswith('.last.pt.'), os.listdir(cut)    # killed inside the write...
    assert 0 < (cut/tmp[0]).stat().st_size < (full/'last.pt').stat().st_size   # ...halfway through it
    ck = torch.load(cut/'last.pt', weights_only=False, map_location='cpu')      # the previous checkpoint is intact
    assert ck['epoch'] == 0 and len(ck['metrics']) == 1 and not (cut/'encoder.pt').exists()
    r = iclmsr('pretrain', *ARGS, *extra, '--out', str(cut), '--resume', env=env)
    assert r.returncode == 0, r.stderr
    a, b = weights(full/'encoder.pt'), weights(cut/'encoder.pt')
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), 'resumed run differs from the uninterrupted one'
    ma, mb = weights(full/'encoder.pt', 'msr'), weights(cut/'encoder.pt', 'msr')
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    assert not [f for f in os.listdir(cut) if f.endswith('.tmp')]              # the stray temporary file is cleaned up
    assert [m['epoch'] for m in json.loads((cut/'metrics.json').read_text())] == [0, 1]

def test_nan_run_stops_with_message_and_keeps_checkpoint(tmp_path, env):
    "lr 1e12 sends the weights to Inf at the first step: the run stops at once, one line, exit 1, last.pt loads."
    run = tmp_path/'nan'
    r = iclmsr('pretrain', *ARGS, '--lr', '1e12', '--out', str(run), env=env)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert 'Traceback' not in r.stderr
    errors = [l for l in r.stderr.splitlines() if 'error' in l]
    assert len(errors) == 1, r.stderr
    assert errors[0].startswith('iclmsr pretrain: error: non-finite base loss (nan) at epoch 0, batch 1'), errors[0]
    assert f"kept the last good checkpoint {run/'last.pt'} (the initial weights)" in errors[0]
    assert not (run/'encoder.pt').exists() and not (run/'metrics.json').exists()
    ck = torch.load(run/'last.pt', weights_only=False, map_location='cpu')
    assert ck['epoch'] == -1 and all(torch.isfinite(t).all() for t in ck['state']['model'].values() if t.is_floating_point())
    from iclmsr.runs import build_learner, load_training_state
    learn = build_learner(ck['config'], device='cpu'); learn.create_opt()
    load_training_state(learn, ck['state'])                                     # the last checkpoint loads into a learner

def test_unwritable_out_fails_before_training(tmp_path, env):
    (tmp_path/'file').write_text('not a folder')
    t0 = time.time()
    r = iclmsr('pretrain', *ARGS, '--out', str(tmp_path/'file'/'run'), env=env)
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    assert 'argument `out` must be a folder this process can write to' in r.stderr, r.stderr

def test_nan_in_a_multistage_run_stops_with_exit_1(tmp_path, monkeypatch, capsys):
    "MCL (--stages 2) has its guard too: lr 1e12 stops stage 1 at once, one line, exit status 1, no encoder saved."
    monkeypatch.setenv('ICLMSR_CACHE', str(tmp_path/'cache'))
    from iclmsr.cli import main
    with pytest.raises(SystemExit) as e:
        main(['pretrain', '--stages', '2', *ARGS, '--clusters', '2', '--lr', '1e12', '--out', str(tmp_path/'mcl')])
    err = capsys.readouterr().err
    assert e.value.code == 1 and err.startswith('iclmsr pretrain: error: non-finite base loss'), err
    assert not (tmp_path/'mcl'/'encoder.pt').exists()
