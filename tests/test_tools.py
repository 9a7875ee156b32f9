"Tests of the developer scripts in `tools/`."
import subprocess, sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parents[1]

def _grid_nb(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell('# a grid'),
                nbformat.v4.new_code_cell('SEEDS, RHOS = (0, 1, 2), (0.0, 0.9)\ndone = []'),
                nbformat.v4.new_code_cell('#| slow\nfor seed in SEEDS:\n    for rho in RHOS: print(f"run {seed} {rho}")'),
                nbformat.v4.new_code_cell('raise RuntimeError("cells after the loop must not run")')]
    nbformat.write(nb, path)
    return path

def _grid(*args):
    return subprocess.run([sys.executable, str(ROOT/'tools'/'run_notebook_grid.py'), *map(str, args)],
                          capture_output=True, text=True, timeout=120)

def test_run_notebook_grid_runs_only_the_given_part(tmp_path):
    nb = _grid_nb(tmp_path/'grid.ipynb')
    r = _grid(nb, '--seeds', 2, 0, '--rhos', 0.9)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split('\n')[:-1] == ['run 2 0.9', 'run 0 0.9']

def test_run_notebook_grid_refuses_values_outside_the_grid(tmp_path):
    nb = _grid_nb(tmp_path/'grid.ipynb')
    r = _grid(nb, '--seeds', 3, '--rhos', 0.0)
    assert r.returncode == 2 and '--seeds/--rhos must be among' in r.stderr and '[3]' in r.stderr
    plain = tmp_path/'plain.ipynb'
    nb = nbformat.v4.new_notebook(); nb.cells = [nbformat.v4.new_code_cell('x = 1')]; nbformat.write(nb, plain)
    r = _grid(plain, '--seeds', 0, '--rhos', 0.0)
    assert r.returncode == 2 and 'no code cell with `for seed in SEEDS`' in r.stderr
