"""Time per-image SimCLR augmentation candidates: ms per batch of images, one view, fp32.

    python bench/augment_speed.py [--n 512] [--size 32] [--threads 2] [--repeats 7] [--device cpu]

Candidates (the `simclr32` pipeline: RandomResizedCrop(0.08, 1), flip 0.5, ColorJitter(0.4, 0.4, 0.4, 0.1) p=0.8,
grayscale p=0.2; with --blur also a Gaussian blur p=0.5, sigma (0.1, 2)):
  torchvision-per-image  torchvision.transforms.v2 Compose applied image by image (a batch call would share one draw)
  kornia                 kornia.augmentation, batched with per-sample parameters
  iclmsr                 iclmsr.augment.ContrastiveViews (n_views=1)
Prints the median and the minimum over --repeats timed runs after one warm-up run. On a machine shared with other
processes, `--threads 1 --clock cpu` (process CPU time) is the steadier comparison.
"""
import argparse, statistics, time
import torch
import torchvision.transforms.v2 as T
import kornia.augmentation as K
from iclmsr.augment import ContrastiveViews, _blur_kernel


def candidates(size, blur):
    k = _blur_kernel(size)
    tv = T.Compose([T.RandomResizedCrop(size, scale=(0.08, 1.), antialias=True), T.RandomHorizontalFlip(),
                    T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), T.RandomGrayscale(0.2)]
                   + ([T.RandomApply([T.GaussianBlur(k, (0.1, 2.))], p=0.5)] if blur else []))
    ko = torch.nn.Sequential(K.RandomResizedCrop((size, size), scale=(0.08, 1.)), K.RandomHorizontalFlip(),
                             K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), K.RandomGrayscale(p=0.2),
                             *([K.RandomGaussianBlur(k, (0.1, 2.), p=0.5)] if blur else []))
    ours = ContrastiveViews(size=size, n_views=1, blur_p=0.5 if blur else 0.)
    return {'torchvision-per-image': lambda x: torch.stack([tv(im) for im in x]),
            'kornia': ko,
            'iclmsr': lambda x: ours(x)[0][0]}


def timeit(f, x, repeats, clock=time.perf_counter):
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    f(x); sync()
    ts = []
    for _ in range(repeats):
        t = clock(); f(x); sync(); ts.append(clock() - t)
    return statistics.median(ts)*1e3, min(ts)*1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=512)
    ap.add_argument('--size', type=int, default=32)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=7)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--blur', action='store_true')
    ap.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                    help="'cpu': process CPU time, steadier on a shared machine (use with --threads 1)")
    ap.add_argument('--only', nargs='*', help='names of candidates to run')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.rand(a.n, 3, a.size, a.size, device=a.device)
    clock = time.process_time if a.clock == 'cpu' else time.perf_counter
    print(f"torch {torch.__version__}, {a.device}, {a.threads} threads, {a.n} images {a.size}px fp32, "
          f"blur={a.blur}, {a.clock} clock")
    for name, f in candidates(a.size, a.blur).items():
        if a.only and name not in a.only: continue
        med, mn = timeit(f, x, a.repeats, clock)
        print(f"{name:24s} median {med:8.1f} ms   min {mn:8.1f} ms   per {a.n} images")


if __name__ == '__main__': main()
