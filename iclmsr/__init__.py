__version__ = "0.1.0"

# fastai's import runs `torch.jit.script`, which this torch deprecates with a FutureWarning on every import of
# iclmsr; it is fastai's, not the user's to act on. Only that warning, and only from torch.jit, is silenced.
import warnings as _warnings
_warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning, module=r'torch\.jit')
