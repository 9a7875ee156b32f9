"""Train part of an experiment notebook's grid in this process, so that several processes share the work.

The experiment notebooks (`nbs/2x_*.ipynb`) define their configuration and a `run` function in their first code
cells, then loop over `SEEDS` x `RHOS` in one `#| slow` cell, appending every finished run to a results file in the
iclmsr cache. This script executes those first cells, narrows `SEEDS` and `RHOS` to the ones given, and executes the
loop cell, so e.g. two processes, one per rho, train the grid in half the wall time on a 2-core machine:

    OMP_NUM_THREADS=1 python tools/run_notebook_grid.py nbs/23_mcl_experiments.ipynb --seeds 0 1 2 --rhos 0.0 &
    OMP_NUM_THREADS=1 python tools/run_notebook_grid.py nbs/23_mcl_experiments.ipynb --seeds 0 1 2 --rhos 0.9 &
    wait; exec_nb nbs/23_mcl_experiments.ipynb --dest nbs/23_mcl_experiments.ipynb   # reads the runs back

The loop cell is the first code cell that contains `for seed in SEEDS`; every code cell before it is executed.
"""
import argparse, nbformat

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebook', help='the experiment notebook')
    p.add_argument('--seeds', type=int, nargs='+', required=True, help='the seeds this process trains')
    p.add_argument('--rhos', type=float, nargs='+', required=True, help='the values of rho this process trains')
    a = p.parse_args()
    cells = [c.source for c in nbformat.read(a.notebook, as_version=4).cells if c.cell_type == 'code']
    loop = next((i for i, c in enumerate(cells) if 'for seed in SEEDS' in c), None)
    if loop is None: p.error(f'{a.notebook} has no code cell with `for seed in SEEDS`')
    g = {'__name__': '__grid__'}
    for i, c in enumerate(cells[:loop]): exec(compile(c, f'{a.notebook} cell {i}', 'exec'), g)
    bad = [r for r in a.rhos if r not in g['RHOS']] + [s for s in a.seeds if s not in g['SEEDS']]
    if bad: p.error(f"--seeds/--rhos must be among the notebook's SEEDS {g['SEEDS']} and RHOS {g['RHOS']}, got {bad}")
    g['SEEDS'], g['RHOS'] = tuple(a.seeds), tuple(a.rhos)
    exec(compile(cells[loop], f'{a.notebook} cell {loop}', 'exec'), g)

if __name__ == '__main__': main()
