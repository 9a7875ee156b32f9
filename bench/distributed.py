"""SimCLR training throughput in one process vs data-parallel processes (gloo on the CPU), and the communication share.

    python bench/distributed.py [--bs 64] [--size 32] [--steps 10] [--world 2] [--arch smallcnn]

Runs the same SimCLR step (fixed views of random images, forward + NT-Xent over the global batch + backward + Adam):
  1 process x W threads       the global batch of W x bs images in one process
  W processes x 1 thread      `DistributedDataParallel` over gloo, bs images per process, negatives gathered with
                              `iclmsr.distributed.gather` (every rank sees the global batch)
and, in the W-process run, the same step without any communication (the local loss, `DDP.no_sync`): the
difference is the time spent communicating (gradient all-reduce + gathers + waiting for the slower rank), printed as
a share of the step. Prints images/s (global images per second of wall time), median of --steps timed steps after
2 warm-up steps. Not a timed test: the numbers depend on the machine and its load. GPU (NCCL) not measured here.
"""
import argparse, os, socket, statistics, time
import torch
import torch.multiprocessing as mp


def setup(bs, size, arch, seed=0):
    from iclmsr.models import create_model
    from iclmsr.methods import SimCLR
    g = torch.Generator().manual_seed(seed)
    model = create_model('simclr', arch=arch, seed=0)
    return model, SimCLR(), torch.rand(2 * bs, 3, size, size, generator=g)


def timed_steps(step, steps):
    for _ in range(2): step()
    ts = []
    for _ in range(steps):
        t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def single(bs, size, arch, steps, threads):
    torch.set_num_threads(threads)
    model, method, xv = setup(bs, size, arch)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    def step():
        opt.zero_grad(); method.loss(model(xv), model).backward(); opt.step()
    return timed_steps(step, steps)


def _rank(r, world, port, bs, size, arch, steps, out):
    os.environ.update(RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(world), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from torch.nn.parallel import DistributedDataParallel
    import iclmsr.distributed as D
    with D.distributed('gloo'):
        model, method, xv = setup(bs, size, arch, seed=r)
        ddp = DistributedDataParallel(model)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        def step():
            opt.zero_grad(); method.loss(ddp(xv), model).backward(); opt.step()
        gather = D.is_distributed
        def local_step():  # the same arithmetic on this rank's batch, nothing sent
            opt.zero_grad()
            with ddp.no_sync():
                D.is_distributed = lambda: False  # gather becomes the identity: the local loss
                try: method.loss(ddp(xv), model).backward()
                finally: D.is_distributed = gather
            opt.step()
        t = timed_steps(step, steps)
        D.barrier()
        t_local = timed_steps(local_step, steps)
        D.barrier()
        torch.save((t, t_local), os.path.join(out, f'rank{r}.pt'))


def multi(world, bs, size, arch, steps):
    import tempfile
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as out:
        mp.spawn(_rank, args=(world, port, bs, size, arch, steps, out), nprocs=world, join=True)
        res = [torch.load(os.path.join(out, f'rank{r}.pt')) for r in range(world)]
    return max(t for t, _ in res), max(t for _, t in res)


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--bs', type=int, default=64, help='images per process (the global batch is --world x --bs)')
    p.add_argument('--size', type=int, default=32)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--world', type=int, default=2)
    p.add_argument('--arch', default='smallcnn')
    a = p.parse_args()
    os.environ['OMP_NUM_THREADS'] = '1'
    n = a.world * a.bs
    t1 = single(n, a.size, a.arch, a.steps, threads=a.world)
    tw, tw_local = multi(a.world, a.bs, a.size, a.arch, a.steps)
    print(f"SimCLR {a.arch}, {a.size} px, global batch {n} ({a.world} x {a.bs}), fp32, median of {a.steps} steps")
    print(f"  1 process  x {a.world} threads : {n / t1:8.1f} images/s  ({t1 * 1e3:.0f} ms/step)")
    print(f"  {a.world} processes x 1 thread  : {n / tw:8.1f} images/s  ({tw * 1e3:.0f} ms/step, gloo)")
    print(f"  communication share of the {a.world}-process step: {max(0., 1 - tw_local / tw):.0%} "
          f"({tw_local * 1e3:.0f} ms without any communication)")
    print("  GPU (NCCL): not measured here")
