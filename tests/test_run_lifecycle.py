"""A run's life on the command line, end to end: one process per run folder, Ctrl-C and --resume, extending a finished
run, training and evaluating on a user's own image folder, and a run folder whose record was edited by hand."""
import csv, json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
from conftest import iclmsr, weights

ARGS = ['--epochs', '3', '--n-train', '512', '--n-valid', '128', '--bs', '64', '--size', '16', '--seed', '4', '--no-progress']

def cli(*args, env, **kw): return iclmsr(*map(str, args), env=env, **kw)

def start(*args, env):
    return subprocess.Popen([sys.executable, '-m', 'iclmsr.cli', *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

def same_weights(a, b): return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

def losses(run):
    "train_loss and valid_loss of every epoch in a run's metrics.csv (the time it took differs from run to run)."
    with open(Path(run)/'metrics.csv') as f: return [(r['epoch'], r['train_loss'], r['valid_loss']) for r in csv.DictReader(f)]

def errors(stderr): return [l for l in stderr.splitlines() if 'error:' in l]

def test_two_pretrain_on_one_out(tmp_path, env):
    "Two `pretrain` started together on one new --out: exactly one trains, the other exits 2 with one line."
    out = tmp_path/'run'
    ps = [start('pretrain', *ARGS[:1], '1', *ARGS[2:], '--seed', str(s), '--out', out, env=env) for s in (0, 1)]
    res = [(p.wait(timeout=600), *p.communicate()) for p in ps]
    codes = sorted(r[0] for r in res)
    assert codes == [0, 2], res
    loser = next(r for r in res if r[0] == 2)
    assert len(errors(loser[2])) == 1 and 'Traceback' not in loser[2], loser[2]
    assert 'is in use by process' in loser[2] or 'holds a run already' in loser[2], loser[2]
    seed = json.loads((out/'config.json').read_text())['seed']   # the folder is the winner's alone
    for f in ('last.pt', 'encoder.pt'):
        assert torch.load(out/f, weights_only=False, map_location='cpu')['config']['seed'] == seed
    assert not (out/'.lock').exists()

def test_ctrl_c_eval_resume(tmp_path, env):
    "Ctrl-C: exit 130 and one line with the resume command; eval reads the stopped folder; --resume ends as if never stopped."
    full, cut = tmp_path/'full', tmp_path/'cut'
    r = cli('pretrain', *ARGS, '--out', full, env=env)
    assert r.returncode == 0, r.stderr
    p = start('pretrain', *ARGS, '--out', cut, env=env)
    t0 = time.time()
    while not (cut/'metrics.json').exists() and time.time() - t0 < 300 and p.poll() is None: time.sleep(0.05)
    time.sleep(0.2)  # into the second epoch
    assert p.poll() is None, 'the run ended before it could be interrupted'
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 130, err
    lines = [l for l in err.splitlines() if l.strip() and 'warn' not in l.lower()]
    assert len(lines) == 1 and 'Traceback' not in err, err
    assert lines[0].startswith('iclmsr pretrain: interrupted in epoch') and lines[0].endswith(f"--out {cut} --resume"), lines[0]
    assert (cut/'encoder.pt').exists() and not (cut/'.lock').exists()
    r = cli('eval', cut, '--n-eval', '100', '--json', env=env)         # the stopped folder is a valid run
    assert r.returncode == 0, r.stderr
    assert 'was stopped in epoch' in r.stderr and 0 <= json.loads(r.stdout)['confounded_test'] <= 1
    r = cli('pretrain', *ARGS, '--out', cut, '--resume', env=env)
    assert r.returncode == 0, r.stderr
    assert same_weights(weights(full), weights(cut)), 'resumed run differs from the uninterrupted one'
    assert losses(full) == losses(cut)                                      # the smoothed train loss continues too
    assert torch.load(cut/'encoder.pt', weights_only=False)['stopped'] is None

def test_extend_a_finished_run(tmp_path, env):
    "--resume --epochs N continues a finished run to N epochs; fewer epochs than it has is refused."
    run = tmp_path/'run'
    assert cli('pretrain', *ARGS[:1], '1', *ARGS[2:], '--out', run, env=env).returncode == 0
    r = cli('pretrain', *ARGS[:1], '2', *ARGS[2:], '--out', run, '--resume', env=env)
    assert r.returncode == 0, r.stderr
    assert [m['epoch'] for m in json.loads((run/'metrics.json').read_text())] == [0, 1]
    assert json.loads((run/'config.json').read_text())['epochs'] == 2 == weights(run, 'config')['epochs']
    r = cli('pretrain', *ARGS[:1], '1', *ARGS[2:], '--out', run, '--resume', env=env)
    assert r.returncode == 2 and len(errors(r.stderr)) == 1 and 'has trained 2 epochs already' in r.stderr, r.stderr

@pytest.fixture(scope='module')
def own_folder(tmp_path_factory):
    "A user's image folder: three classes of 20 PNGs each (a bright square on dark, a dark disc on light, stripes), odd sizes."
    root = tmp_path_factory.mktemp('own')/'pics'
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:24, :24]
    for c in ('squares', 'discs', 'stripes'):
        (root/c).mkdir(parents=True)
        for i in range(20):
            a = rng.integers(0, 60, (24, 24, 3)).astype(np.uint8)
            if c == 'squares': a[6:18, 6:18] = 200 + rng.integers(0, 50, 3)
            elif c == 'discs': a = 255 - a; a[(yy - 12)**2 + (xx - 12)**2 < 40] = rng.integers(0, 50, 3)
            else: a[(xx // 3) % 2 == 0] = 180
            Image.fromarray(a).resize((24 + i % 5, 24)).save(root/c/f"{i}.png")
    return root

def test_own_folder_cli_and_api(tmp_path, env, own_folder):
    "Train on an image folder, evaluate it through the command line and the API (SimCLR, then MCL); options of the benchmark are refused."
    from iclmsr.cli import evaluate
    run = tmp_path/'own'
    common = ['--data', f"folder:{own_folder}", '--epochs', '1', '--bs', '16', '--size', '16', '--no-progress']
    r = cli('pretrain', *common, '--out', run, env=env)
    assert r.returncode == 0, r.stderr
    cfg = json.loads((run/'config.json').read_text())
    assert cfg['n_train'] is None and cfg['rho'] is None and cfg['preset'] is None   # not recorded: they did not apply
    r = cli('eval', run, '--json', env=env)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert set(res) == {'linear', 'knn200', 'knn5'} and all(0 <= v <= 1 for v in res.values())
    api = evaluate(run, progress=False, device='cpu')
    assert api == pytest.approx(res)
    icl = tmp_path/'own-iclmsr'   # ICL-MSR on the folder: its eval reports the strata's health, as on the benchmarks
    assert cli('pretrain', *common, '--iclmsr', '--out', icl, env=env).returncode == 0
    r = cli('eval', icl, '--json', env=env)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert {'linear', 'strata_entropy', 'strata_top_share', 'strata_cosine'} <= set(res), sorted(res)
    assert 0 <= res['strata_entropy'] <= 1 and 0 < res['strata_top_share'] <= 1, res
    mcl = tmp_path/'own-mcl'
    r = cli('pretrain', '--data', f"folder:{own_folder}", '--epochs', '2', '--stages', '2', '--clusters', '3', '--bs', '16',
               '--size', '16', '--no-progress', '--out', mcl, env=env)
    assert r.returncode == 0, r.stderr
    r = cli('eval', mcl, '--json', env=env)
    assert r.returncode == 0 and 0 <= json.loads(r.stdout)['linear'] <= 1, r.stderr
    for opt, v in (('--n-train', '64'), ('--rho', '0.2'), ('--preset', 'hard')):
        bad = tmp_path/f"bad{opt}"
        r = cli('pretrain', *common, opt, v, '--out', bad, env=env)
        assert r.returncode == 2 and len(errors(r.stderr)) == 1 and 'left out with --data folder:PATH' in r.stderr, r.stderr
        assert not bad.exists() or not any(bad.iterdir()), list(bad.iterdir())  # nothing written

def test_eval_output_redirected_has_no_progress_bar(tmp_path, env, own_folder):
    "`iclmsr eval run > table.txt`: only the table, no progress-bar bytes."
    run = tmp_path/'own'
    assert cli('pretrain', '--data', f"folder:{own_folder}", '--epochs', '1', '--bs', '16', '--size', '16', '--out', run, env=env).returncode == 0
    r = cli('eval', run, env=env)   # stdout is a pipe here, as in a redirect
    assert r.returncode == 0, r.stderr
    assert '\r' not in r.stdout and '\x1b' not in r.stdout and '%' not in r.stdout, r.stdout
    assert r.stdout.splitlines()[1].startswith('linear')

def test_edited_record_is_reported(tmp_path, env, own_folder):
    "A config.json that is not JSON, or that disagrees with encoder.pt, is reported by eval, not silently replaced."
    run = tmp_path/'run'
    assert cli('pretrain', *ARGS[:1], '1', *ARGS[2:], '--out', run, env=env).returncode == 0
    bad = tmp_path/'badjson'; shutil.copytree(run, bad); (bad/'config.json').write_text('{"method": "simclr",')
    r = cli('eval', bad, '--no-progress', env=env)
    assert r.returncode == 2 and 'config.json is not valid JSON' in r.stderr and len(errors(r.stderr)) == 1, r.stderr
    other = tmp_path/'other'; shutil.copytree(run, other)
    cfg = json.loads((other/'config.json').read_text()); cfg.update(arch='resnet18', lr=0.1)
    (other/'config.json').write_text(json.dumps(cfg))
    r = cli('eval', other, '--no-progress', env=env)
    assert r.returncode == 2 and "disagree on arch (config.json 'resnet18', encoder.pt 'smallcnn'), lr" in r.stderr, r.stderr
