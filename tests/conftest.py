"""Shared by the tests: the slow marker, the environment of an `iclmsr` subprocess, running the command, reading weights."""
import os, subprocess, sys
from pathlib import Path
import pytest, torch

def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")

def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"): return
    skip = pytest.mark.skip(reason="slow: run with --runslow (make test-all)")
    for item in items:
        if "slow" in item.keywords: item.add_marker(skip)

@pytest.fixture(scope='module')
def env(tmp_path_factory):
    "The environment of an `iclmsr` subprocess: a data cache of its own (one per test file), unbuffered output, one torch thread."
    return dict(os.environ, ICLMSR_CACHE=str(tmp_path_factory.mktemp('cache')), PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')

def iclmsr(*args, env, **kw):
    "Run `python -m iclmsr.cli *args` in `env`; the completed process, its output captured as text."
    return subprocess.run([sys.executable, '-m', 'iclmsr.cli', *args], env=env, capture_output=True, text=True, **kw)

def weights(path, key='model'):
    "The `key` entry of a checkpoint: `path` is a file, or a run folder (its encoder.pt)."
    path = Path(path)
    return torch.load(path/'encoder.pt' if path.is_dir() else path, weights_only=False, map_location='cpu')[key]
